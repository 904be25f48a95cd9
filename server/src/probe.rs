//! `taxii-mirror healthcheck`: asks the running server's admin listener for `/healthz` (or
//! `/readyz`), for a container's HEALTHCHECK or a supervisor, where no HTTP client may be
//! installed. Exit 0 when the answer is 200, 1 otherwise, with one line saying why.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// The subcommand (flattened into the command line).
#[derive(clap::Subcommand)]
pub enum ProbeCommand {
    /// Exit 0 when the running server answers /healthz (or /readyz with --ready).
    Healthcheck {
        /// Data folder of the running server (its admin.addr file says where to ask).
        #[arg(long, default_value = "/var/lib/taxii-mirror")]
        data: PathBuf,
        /// Ask /readyz instead: the store answers and every source mirrors.
        #[arg(long)]
        ready: bool,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 5.0)]
        timeout: f64,
    },
}

impl ProbeCommand {
    /// Probe and report.
    pub fn run(&self) -> ExitCode {
        let ProbeCommand::Healthcheck {
            data,
            ready,
            timeout,
        } = self;
        let path = if *ready { "/readyz" } else { "/healthz" };
        let wait = Duration::from_secs_f64(timeout.clamp(0.1, 300.0));
        match probe(data, path, wait) {
            Ok(body) => {
                print!("{body}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("unhealthy: {e}");
                ExitCode::FAILURE
            }
        }
    }
}

fn probe(data_dir: &Path, path: &str, wait: Duration) -> Result<String, String> {
    let addr_file = data_dir.join(crate::admin::ADDR_FILE);
    let text = std::fs::read_to_string(&addr_file)
        .map_err(|e| format!("{}: {e} (is the server running?)", addr_file.display()))?;
    let addr: SocketAddr = text
        .trim()
        .parse()
        .map_err(|e| format!("{}: {e}", addr_file.display()))?;
    let mut stream = TcpStream::connect_timeout(&addr, wait).map_err(|e| format!("{addr}: {e}"))?;
    stream
        .set_read_timeout(Some(wait))
        .and_then(|()| stream.set_write_timeout(Some(wait)))
        .map_err(|e| format!("{addr}: {e}"))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("{addr}: {e}"))?;
    let mut answer = Vec::new();
    stream
        .take(64 * 1024)
        .read_to_end(&mut answer)
        .map_err(|e| format!("{addr}{path}: {e}"))?;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.lines().next().unwrap_or_default();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("200") {
        Ok(body.to_string())
    } else {
        Err(format!(
            "{addr}{path}: {status}: {}",
            body.trim().replace('\n', "; ")
        ))
    }
}
