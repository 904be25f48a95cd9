//! The admin listener: health, readiness and metrics (see [`crate::health`]), mirror status,
//! poll-now, imports and look-ups, on loopback by default.
//!
//! Admin calls (under `/admin/`) carry `Authorization: Bearer <token>`, where the token
//! is written to `<data_dir>/admin.token` (mode 0600) at start-up, so only someone who can
//! read the data folder can drive the running server.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use actix_web::dev::Server;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::state::State;

/// File name of the admin token inside the data folder.
pub const TOKEN_FILE: &str = "admin.token";
/// File name of the admin listener's address inside the data folder.
pub const ADDR_FILE: &str = "admin.addr";

/// Header in which an admin call names the data folder it means (see [`folder_id`]).
pub const FOLDER_HEADER: &str = "X-Taxii-Mirror-Data-Folder";

/// An identity of a data folder that a copy of it does not share: its device and inode
/// numbers. `None` where they cannot be read.
pub fn folder_id(data_dir: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(data_dir).ok()?;
        Some(format!("{}:{}", meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = data_dir;
        None
    }
}

/// Record where the admin listener is, for the command line.
pub fn write_addr(data_dir: &Path, addr: std::net::SocketAddr) -> std::io::Result<()> {
    std::fs::write(data_dir.join(ADDR_FILE), addr.to_string())
}

/// Path of the admin token for a data folder.
pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join(TOKEN_FILE)
}

/// Write a fresh random token readable by the owner only.
pub fn write_token(data_dir: &Path) -> std::io::Result<String> {
    let bytes: [u8; 24] = rand::random();
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::create_dir_all(data_dir)?;
    let path = token_path(data_dir);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path)?;
    file.write_all(token.as_bytes())?;
    Ok(token)
}

struct Token(String);

/// The data folder this server serves: its identity and its canonical path.
struct Folder {
    id: Option<String>,
    path: String,
}

/// Largest import request body (about a million values with descriptions).
const MAX_IMPORT_BYTES: usize = 256 * 1024 * 1024;

/// Start the admin server on `listener`.
pub fn server(
    listener: TcpListener,
    data: web::Data<State>,
    token: String,
) -> std::io::Result<Server> {
    let token = web::Data::new(Token(token));
    let dir = &data.config.data_dir;
    let folder = web::Data::new(Folder {
        id: folder_id(dir),
        path: std::fs::canonicalize(dir)
            .unwrap_or_else(|_| dir.clone())
            .display()
            .to_string(),
    });
    Ok(actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .app_data(token.clone())
            .app_data(folder.clone())
            .configure(crate::health::routes)
            .route("/admin/status", web::get().to(status))
            .route("/admin/poll-now/{source}", web::post().to(poll_now))
            .route("/admin/import/{collection}", web::post().to(import))
            .route("/admin/lookup", web::get().to(lookup))
            .route("/admin/withdraw/{collection}", web::post().to(withdraw))
            .app_data(web::JsonConfig::default().limit(MAX_IMPORT_BYTES))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}

/// Proof that a request carries the admin token: an argument of every `/admin/` handler,
/// so a handler cannot forget the check. A request without it gets HTTP 401.
struct Authorized;

impl actix_web::FromRequest for Authorized {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        // A call meant for another data folder (a copy holding this folder's address and
        // token, an address left behind by a killed server) is refused before the token
        // is looked at, and nothing is done.
        if let Some(folder) = req.app_data::<web::Data<Folder>>() {
            let asked = req
                .headers()
                .get(FOLDER_HEADER)
                .and_then(|v| v.to_str().ok());
            if let (Some(asked), Some(ours)) = (asked, folder.id.as_deref()) {
                if asked != ours {
                    let message = format!(
                        "the admin listener here serves the data folder {}, not the one asked for",
                        folder.path
                    );
                    return std::future::ready(Err(
                        actix_web::error::InternalError::from_response(
                            "another data folder",
                            HttpResponse::MisdirectedRequest().json(json!({ "error": message })),
                        )
                        .into(),
                    ));
                }
            }
        }
        let granted = req
            .app_data::<web::Data<Token>>()
            .is_some_and(|token| authorized(req, token));
        std::future::ready(if granted {
            Ok(Authorized)
        } else {
            Err(actix_web::error::InternalError::from_response(
                "admin token refused",
                HttpResponse::Unauthorized().json(json!({ "error": "admin token refused" })),
            )
            .into())
        })
    }
}

fn authorized(req: &HttpRequest, token: &Token) -> bool {
    req.headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| constant_time_eq(t.trim().as_bytes(), token.0.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An admin operation's error, with the HTTP status it answers.
pub trait AdminFailure: std::fmt::Display {
    /// 4xx: the request was refused (nothing done); 5xx: the server failed.
    fn http_status(&self) -> u16;
}

impl AdminFailure for crate::import::ImportError {
    fn http_status(&self) -> u16 {
        crate::import::ImportError::http_status(self)
    }
}

impl AdminFailure for crate::lookup::LookupError {
    fn http_status(&self) -> u16 {
        crate::lookup::LookupError::http_status(self)
    }
}

impl AdminFailure for crate::withdraw::WithdrawError {
    fn http_status(&self) -> u16 {
        crate::withdraw::WithdrawError::http_status(self)
    }
}

/// The JSON answer of an admin operation run off the async threads: the value, or
/// `{"error": ...}` with the error's status. A refusal is logged as a warning, a failure
/// as an error.
fn answer<T: serde::Serialize, E: AdminFailure>(
    what: &str,
    result: Result<Result<T, E>, actix_web::error::BlockingError>,
) -> HttpResponse {
    match result {
        Ok(Ok(value)) => HttpResponse::Ok().json(value),
        Ok(Err(e)) => {
            let status = actix_web::http::StatusCode::from_u16(e.http_status())
                .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
            if status.is_server_error() {
                tracing::error!(cause = %e, "{what} failed");
            } else {
                tracing::warn!(cause = %e, "{what} refused");
            }
            HttpResponse::build(status).json(json!({ "error": e.to_string() }))
        }
        Err(e) => {
            tracing::error!(cause = %e, "{what} task failed");
            HttpResponse::InternalServerError()
                .json(json!({ "error": format!("{what} task failed") }))
        }
    }
}

async fn status(_: Authorized, state: web::Data<State>) -> HttpResponse {
    let st = state.get_ref().clone();
    let collections = web::block(move || crate::state::collection_status(&st))
        .await
        .unwrap_or_default();
    let sources = state
        .mirror
        .as_ref()
        .map(|m| serde_json::to_value(m.status()).unwrap_or_default())
        .unwrap_or_else(|| json!([]));
    HttpResponse::Ok().json(json!({ "collections": collections, "sources": sources }))
}

async fn poll_now(_: Authorized, path: web::Path<String>, state: web::Data<State>) -> HttpResponse {
    let source = path.into_inner();
    match &state.mirror {
        Some(m) => match m.poll_now(&source) {
            Ok(()) => HttpResponse::Accepted().json(json!({ "source": source, "triggered": true })),
            Err(e) => HttpResponse::NotFound().json(json!({ "error": e.to_string() })),
        },
        None => {
            HttpResponse::NotFound().json(json!({ "error": "no mirror sources are configured" }))
        }
    }
}

async fn import(
    _: Authorized,
    path: web::Path<String>,
    body: web::Json<crate::import::ImportRequest>,
    state: web::Data<State>,
) -> HttpResponse {
    let collection = path.into_inner();
    let request = body.into_inner();
    let (name, values) = (request.name.clone(), request.entries.len());
    let st = state.get_ref().clone();
    let target = collection.clone();
    let started = std::time::Instant::now();
    let result =
        web::block(move || crate::import::apply(&st, &target, request, taxii::Timestamp::now()))
            .await;
    if let Ok(Ok(reply)) = &result {
        tracing::info!(
            collection,
            name,
            values,
            added = reply.added,
            skipped = reply.skipped,
            packages = reply.packages.len(),
            ms = started.elapsed().as_millis() as u64,
            "import stored"
        );
    }
    answer("import", result)
}

#[derive(serde::Deserialize)]
struct LookupQuery {
    value: String,
    #[serde(default)]
    kind: Option<String>,
}

async fn lookup(
    _: Authorized,
    query: web::Query<LookupQuery>,
    state: web::Data<State>,
) -> HttpResponse {
    let LookupQuery { value, kind } = query.into_inner();
    let st = state.get_ref().clone();
    let started = std::time::Instant::now();
    let result =
        web::block(move || crate::lookup::lookup(&st.store, &value, kind.as_deref())).await;
    if let Ok(Ok(reply)) = &result {
        tracing::debug!(
            kind = reply.kind,
            hits = reply.hits.len(),
            us = started.elapsed().as_micros() as u64,
            "lookup"
        );
    }
    answer("lookup", result)
}

/// Body of `POST /admin/withdraw/{collection}`.
#[derive(serde::Deserialize)]
struct WithdrawBody {
    values: Vec<String>,
}

async fn withdraw(
    _: Authorized,
    path: web::Path<String>,
    body: web::Json<WithdrawBody>,
    state: web::Data<State>,
) -> HttpResponse {
    let collection = path.into_inner();
    let values = body.into_inner().values;
    if values.is_empty() {
        return HttpResponse::BadRequest().json(json!({ "error": "no values given" }));
    }
    let st = state.get_ref().clone();
    answer(
        "withdraw",
        web::block(move || crate::withdraw::withdraw(&st, &collection, &values)).await,
    )
}
