//! Building and running the application: store, listeners, services and mirror tasks.
//!
//! Tests build the real [`App`] from a config whose addresses use port 0, then read the
//! ports it bound.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use tracing::info;

use crate::admin;
use crate::auth::Authority;
use crate::config::Config;
use crate::http_binding::{serve, Service};
use crate::results::ResultSets;
use crate::state::{AppState, State};

/// Seconds a client has to complete the TLS handshake.
const TLS_HANDSHAKE_SECS: u64 = 5;

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("store at {path}: {source}")]
    Store {
        path: String,
        source: store::StoreError,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

/// A started application, not yet serving.
pub struct App {
    pub state: State,
    https: TcpListener,
    http: Option<TcpListener>,
    admin: Option<TcpListener>,
    tls: rustls::ServerConfig,
    certs: Arc<crate::reload::CertSource>,
}

/// Addresses the application bound.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub https: SocketAddr,
    pub http: Option<SocketAddr>,
    pub admin: Option<SocketAddr>,
}

impl App {
    /// Open the store, load certificates, bind every listener and start the mirror tasks.
    /// Must run inside the actix (tokio) runtime.
    pub async fn build(config: Config) -> Result<App, StartError> {
        let certs = crate::reload::CertSource::load(&config.listen.cert, &config.listen.key)?;
        let tls = crate::tls::config_with_resolver(certs.clone())?;

        // Open the store and create the configured collections, off the async threads.
        let data_dir = config.data_dir.clone();
        let names: Vec<String> = config.collections.iter().map(|c| c.name.clone()).collect();
        let min_free = config.limits.min_free_mb.saturating_mul(1024 * 1024);
        let store = web::block(move || {
            let store = store::Store::open(&data_dir)?;
            store.set_min_free_bytes(min_free);
            for name in &names {
                store.ensure_collection(name)?;
            }
            // Recorded for `status` on a stopped server given only the data folder.
            crate::state::record_configured(&store, &names)?;
            if !store.index_ready()? {
                // A store from before the indicator index: index what it holds, once.
                // TODO(store): this runs before the listeners bind; a large store delays the
                // first start after an upgrade (about a minute per 100,000 blocks).
                info!("indexing the indicators of stored blocks (first start after upgrade)");
                store.rebuild_index(crate::lookup::index_values_of)?;
            }
            Ok::<_, store::StoreError>(store)
        })
        .await
        .map_err(|e| StartError::Other(e.to_string()))?
        .map_err(|source| match source {
            store::StoreError::InUse(_) => StartError::Other(format!(
                "store at {} is in use by another taxii-mirror process",
                config.data_dir.display()
            )),
            source => StartError::Store {
                path: config.data_dir.display().to_string(),
                source,
            },
        })?;

        // Accepted connections inherit TCP_NODELAY from the listener: a response's last
        // small write (the end of a chunked body) must not wait for the client's delayed ACK.
        let bind = |addr: SocketAddr| {
            let listener =
                TcpListener::bind(addr).map_err(|source| StartError::Bind { addr, source })?;
            socket2::SockRef::from(&listener)
                .set_tcp_nodelay(true)
                .map_err(|source| StartError::Bind { addr, source })?;
            Ok::<_, StartError>(listener)
        };
        let https = bind(config.listen.https)?;
        let http = config.listen.http.map(bind).transpose()?;
        let admin = config.admin.listen.map(bind).transpose()?;
        let https_port = https
            .local_addr()
            .map_err(|e| StartError::Other(e.to_string()))?
            .port();
        let https_base = config.advertised_base(https_port);
        let http_base = match &http {
            Some(l) => Some(format!(
                "http://{}",
                l.local_addr()
                    .map_err(|e| StartError::Other(e.to_string()))?
            )),
            None => None,
        };

        let curations = config.curations();
        let mirror = if config.sources.is_empty() {
            None
        } else {
            let mut sources = config.sources.clone();
            for source in &mut sources {
                if let Some(c) = curations.get(&source.collection) {
                    source.curation = c.clone();
                }
            }
            Some(mirror::Mirror::start(store.clone(), sources))
        };

        let state = Arc::new(AppState {
            auth: Arc::new(Authority::with_login_limit(
                &config.users,
                &config.collections,
                config.limits.failed_logins_per_minute,
            )),
            results: ResultSets::new(Duration::from_secs(config.limits.result_ttl_secs)),
            collections: config
                .collections
                .iter()
                .map(|c| (c.name.clone(), c.clone()))
                .collect::<HashMap<_, _>>(),
            https_base,
            http_base,
            store,
            mirror,
            curations,
            config,
            metrics: crate::metrics::Metrics::default(),
            swept: std::sync::atomic::AtomicBool::new(false),
        });
        Ok(App {
            state,
            https,
            http,
            admin,
            tls,
            certs,
        })
    }

    /// The addresses bound.
    pub fn bound(&self) -> Bound {
        Bound {
            https: self
                .https
                .local_addr()
                .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0))),
            http: self.http.as_ref().and_then(|l| l.local_addr().ok()),
            admin: self.admin.as_ref().and_then(|l| l.local_addr().ok()),
        }
    }

    /// Serve until SIGINT or SIGTERM, then stop within [`STOP_GRACE_SECS`]: new
    /// connections are refused, requests in flight (polls being streamed included) finish,
    /// and at the same time each mirror source commits the batch it is writing and stops.
    pub async fn run(self) -> std::io::Result<()> {
        let bound = self.bound();
        let state = self.state.clone();
        let data = web::Data::new(state.clone());
        let workers = state
            .config
            .listen
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));

        // Signals are caught from here on (before, SIGTERM or SIGHUP would end the process).
        let mut stop = std::pin::pin!(crate::signals::stop_requested());

        // The admin listener first: `/readyz` answers (not ready) while the sweep runs.
        let admin = match self.admin {
            Some(listener) => {
                let token = admin::write_token(&state.config.data_dir)
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                let srv = admin::server(listener, data.clone(), token)?;
                if let Some(a) = bound.admin {
                    admin::write_addr(&state.config.data_dir, a)?;
                    info!(kind = "admin", addr = %a, "listening");
                }
                Some(srv)
            }
            None => None,
        };
        // A server runs only while its future is polled: each on its own task.
        let admin = admin.map(|srv| {
            let handle = srv.handle();
            (handle, actix_web::rt::spawn(srv))
        });

        // Apply a changed allowlist (or finish an interrupted withdrawal) to what is stored
        // before any poll is answered: the TAXII listeners accept nothing until it ends. An
        // unchanged allowlist costs one metadata read per collection.
        let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (sweeping, cancelled) = (state.clone(), cancel.clone());
        let mut sweep = tokio::task::spawn_blocking(move || {
            crate::withdraw::sweep_changed(&sweeping, &cancelled)
        });
        let swept = tokio::select! {
            done = &mut sweep => Some(done),
            signal = &mut stop => {
                info!(signal, "stopping: ending the allowlist sweep after its current block");
                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                let _ = (&mut sweep).await;
                None
            }
        };
        let Some(swept) = swept else {
            if let Some(m) = &state.mirror {
                m.shutdown().await;
            }
            finish_stop(&state, admin).await;
            return Ok(());
        };
        match swept {
            Ok(Ok(done)) => {
                let withdrawn: u64 = done.iter().map(|o| o.withdrawn).sum();
                info!(collections = done.len(), withdrawn, "allowlist sweep done");
            }
            Ok(Err(e)) => {
                // Serving without the sweep could hand out allowlisted values.
                tracing::error!(cause = %e, "allowlist sweep failed; not serving");
                if let Some((handle, task)) = admin {
                    handle.stop(true).await;
                    let _ = task.await;
                    let _ = std::fs::remove_file(state.config.data_dir.join(admin::ADDR_FILE));
                }
                return Err(std::io::Error::other(format!(
                    "allowlist sweep failed: {e}"
                )));
            }
            Err(e) => return Err(std::io::Error::other(e.to_string())),
        }
        state
            .swept
            .store(true, std::sync::atomic::Ordering::Release);

        let check = Duration::from_secs_f64(state.config.listen.cert_check_secs.max(0.0));
        let watcher = crate::reload::watch(self.certs, check, state.clone());
        let limits = &state.config.limits;
        // actix counts connections per worker: share the total out.
        let per_worker = limits.max_connections.div_ceil(workers.max(1)).max(1);

        let app_data = data.clone();
        let mut server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(app_data.clone())
                .configure(|cfg| routes(cfg, &app_data))
        })
        .workers(workers)
        .worker_max_blocking_threads(state.config.listen.store_threads.max(1))
        .max_connections(per_worker)
        .max_connection_rate(per_worker.min(256))
        .client_request_timeout(Duration::from_secs(limits.client_timeout_secs))
        .tls_handshake_timeout(Duration::from_secs(TLS_HANDSHAKE_SECS))
        .keep_alive(Duration::from_secs(limits.keep_alive_secs))
        .shutdown_timeout(STOP_GRACE_SECS)
        .disable_signals()
        .listen_rustls_0_23(self.https, self.tls)?;
        info!(kind = "https", addr = %bound.https, "listening");
        if let Some(http) = self.http {
            server = server.listen(http)?;
            if let Some(a) = bound.http {
                tracing::warn!(kind = "http", addr = %a, "listening without TLS (lab use only)");
            }
        }
        let main = server.run();
        let main_handle = main.handle();
        let mut main_task = actix_web::rt::spawn(main);
        let watcher = actix_web::rt::spawn(watcher);

        let result = tokio::select! {
            signal = &mut stop => {
                info!(signal, grace_secs = STOP_GRACE_SECS, "stopping: finishing requests in flight and the current ingest batch");
                let mirror_stopped = async {
                    if let Some(m) = &state.mirror {
                        m.shutdown().await;
                    }
                };
                futures_util::future::join(main_handle.stop(true), mirror_stopped).await;
                main_task.await.unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
            }
            ended = &mut main_task => {
                if let Some(m) = &state.mirror {
                    m.shutdown().await;
                }
                ended.unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
            }
        };
        watcher.abort();
        finish_stop(&state, admin).await;
        result
    }
}

/// The last steps of every stop: the admin listener ends and its address file goes, the
/// store is flushed, and `stopped` is logged.
async fn finish_stop(
    state: &AppState,
    admin: Option<(
        actix_web::dev::ServerHandle,
        tokio::task::JoinHandle<std::io::Result<()>>,
    )>,
) {
    if let Some((handle, task)) = admin {
        handle.stop(true).await;
        let _ = task.await;
        let _ = std::fs::remove_file(state.config.data_dir.join(admin::ADDR_FILE));
    }
    let _ = state.store.flush();
    info!("stopped");
}

/// Longest a stop waits for requests in flight (the mirror gets
/// [`mirror::SHUTDOWN_GRACE`], at the same time).
pub const STOP_GRACE_SECS: u64 = 20;

/// TAXII routes at the configured paths (and the OTX-style aliases).
fn routes(cfg: &mut web::ServiceConfig, data: &web::Data<State>) {
    let paths = &data.config.paths;
    let mut table = vec![
        (paths.discovery.clone(), Service::Discovery),
        (
            paths.collection_management.clone(),
            Service::CollectionManagement,
        ),
        (paths.poll.clone(), Service::Poll),
        (paths.inbox.clone(), Service::Inbox),
    ];
    if paths.otx_aliases {
        for (p, s) in [
            ("/taxii/discovery", Service::Discovery),
            ("/taxii/collections", Service::CollectionManagement),
            ("/taxii/poll", Service::Poll),
            ("/taxii/inbox", Service::Inbox),
        ] {
            if !table.iter().any(|(path, _)| path == p) {
                table.push((p.to_string(), s));
            }
        }
    }
    for (path, service) in table {
        cfg.service(web::resource(path).to(
            move |req: HttpRequest, payload: web::Payload, data: web::Data<State>| {
                serve(req, payload, data, service)
            },
        ));
    }
    cfg.default_service(web::to(not_found));
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    let peer = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    tracing::warn!(path = req.path(), method = %req.method(), peer, "refused: no TAXII service at this path");
    HttpResponse::NotFound()
        .content_type("text/plain")
        .body("no TAXII service at this path\n")
}
