//! The signals that stop the server: SIGTERM (systemd, `docker stop`) and SIGINT (Ctrl-C).
//! SIGHUP reloads the certificate (see [`crate::reload`]).

use std::future::Future;

/// Start listening for stop signals now (before this, a SIGTERM would end the process at
/// once); the future resolves with the signal's name. Call inside the tokio runtime.
pub fn stop_requested() -> impl Future<Output = &'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => "SIGTERM",
                        _ = int.recv() => "SIGINT",
                    }
                }
                (term, int) => {
                    let cause = term.err().or(int.err()).map(|e| e.to_string());
                    tracing::error!(cause, "cannot listen for stop signals; stop with SIGKILL");
                    std::future::pending().await
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
