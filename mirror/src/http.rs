//! HTTP plumbing shared by every source kind: the reqwest client (TLS trust, client
//! certificate, proxy, timeouts), status classification and bounded body reading.

use std::error::Error as _;
use std::time::Duration;

use reqwest::header::HeaderMap;

use crate::config::SourceConfig;
use crate::error::{sanitize, SourceError};

/// `User-Agent` of every upstream request.
pub(crate) const USER_AGENT: &str = concat!("taxii-mirror/", env!("CARGO_PKG_VERSION"));

/// Build the client of one source. No proxy unless configured (proxy environment variables
/// are ignored), no redirects (credentials must not follow a `Location`), and with
/// `ca_file` only that bundle is trusted unless `ca_include_system` is set.
pub(crate) fn build_client(cfg: &SourceConfig) -> Result<reqwest::Client, SourceError> {
    let mut b = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(Duration::from_secs_f64(cfg.connect_timeout_secs))
        .timeout(Duration::from_secs_f64(cfg.timeout_secs))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    if let Some(p) = &cfg.proxy {
        let proxy = reqwest::Proxy::all(p.as_str())
            .map_err(|e| SourceError::Setup(format!("proxy: {}", chain(&e))))?;
        b = b.proxy(proxy);
    }
    if let Some(path) = &cfg.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| SourceError::Setup(format!("ca_file {}: {e}", path.display())))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            SourceError::Setup(format!("ca_file {}: {}", path.display(), chain(&e)))
        })?;
        if certs.is_empty() {
            return Err(SourceError::Setup(format!(
                "ca_file {} holds no certificate",
                path.display()
            )));
        }
        b = b.tls_built_in_root_certs(cfg.ca_include_system);
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    if let (Some(cert), Some(key)) = (&cfg.client_cert, &cfg.client_key) {
        let mut pem = std::fs::read(cert)
            .map_err(|e| SourceError::Setup(format!("client_cert {}: {e}", cert.display())))?;
        pem.push(b'\n');
        pem.extend(
            std::fs::read(key)
                .map_err(|e| SourceError::Setup(format!("client_key {}: {e}", key.display())))?,
        );
        let id = reqwest::Identity::from_pem(&pem)
            .map_err(|e| SourceError::Setup(format!("client certificate: {}", chain(&e))))?;
        b = b.identity(id);
    }
    b.build()
        .map_err(|e| SourceError::Setup(format!("HTTP client: {}", chain(&e))))
}

/// The text of an error and its sources, without any URL (URLs may carry query data).
pub(crate) fn chain(e: &reqwest::Error) -> String {
    let mut out = String::new();
    let mut cur: Option<&dyn std::error::Error> = e.source();
    while let Some(err) = cur {
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&err.to_string());
        cur = err.source();
    }
    if out.is_empty() {
        out = "request failed".into();
    }
    sanitize(&out, 300)
}

/// Map a send error (no response yet) to its fault.
pub(crate) fn send_error(e: reqwest::Error) -> SourceError {
    let e = e.without_url();
    if e.is_timeout() {
        SourceError::Timeout(chain(&e))
    } else {
        SourceError::Connect(chain(&e))
    }
}

/// Classify a non-2xx HTTP status. Returns `None` for success.
pub(crate) async fn check_status(
    resp: reqwest::Response,
) -> Result<reqwest::Response, SourceError> {
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(resp);
    }
    let retry_after = retry_after(resp.headers());
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| sanitize(v, 200))
        .unwrap_or_default();
    match status {
        401 | 403 => Err(SourceError::HttpAuth(status)),
        406 => Err(SourceError::HeadersRejected),
        408 | 429 | 500..=599 => Err(SourceError::HttpTransient {
            status,
            retry_after,
        }),
        300..=399 => Err(SourceError::Redirect { status, location }),
        _ => {
            // A little of the body helps the operator ("Request Failed", a JSON error).
            let body = read_body(resp, 4096).await.unwrap_or_default();
            let text = String::from_utf8_lossy(&body);
            let text = if looks_like_html(&body) {
                String::new()
            } else {
                sanitize(&text, 200)
            };
            let detail = if text.is_empty() {
                String::new()
            } else {
                format!(": {text}")
            };
            Err(SourceError::RequestRejected { status, detail })
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is ignored).
fn retry_after(h: &HeaderMap) -> Option<Duration> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: u64 = v.trim().parse().ok()?;
    Some(Duration::from_secs(secs.min(86_400)))
}

/// Read the whole body, failing once it passes `limit` bytes or when the connection ends
/// before the announced length.
///
/// TODO(mirror): the body is buffered whole (bounded by `max_body_bytes`) and then parsed;
/// parsing while streaming would bound memory by one block instead of one response.
pub(crate) async fn read_body(
    mut resp: reqwest::Response,
    limit: u64,
) -> Result<Vec<u8>, SourceError> {
    if let Some(len) = resp.content_length() {
        if len > limit {
            return Err(SourceError::TooLarge { limit });
        }
    }
    let mut body = Vec::with_capacity(resp.content_length().unwrap_or(0).min(1 << 20) as usize);
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() as u64 + chunk.len() as u64 > limit {
                    return Err(SourceError::TooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) if e.is_timeout() => return Err(SourceError::Timeout(chain(&e.without_url()))),
            Err(_) => {
                return Err(SourceError::Truncated {
                    received: body.len() as u64,
                })
            }
        }
    }
}

/// Check (strict) or repair (lenient) UTF-8. Returns the body and whether it was repaired.
pub(crate) fn decode_utf8(body: Vec<u8>, lenient: bool) -> Result<(Vec<u8>, bool), SourceError> {
    match std::str::from_utf8(&body) {
        Ok(_) => Ok((body, false)),
        Err(e) if !lenient => Err(SourceError::InvalidUtf8 {
            offset: e.valid_up_to(),
        }),
        Err(_) => Ok((
            String::from_utf8_lossy(&body).into_owned().into_bytes(),
            true,
        )),
    }
}

/// An HTML page (error pages of proxies and load balancers) rather than XML or JSON.
pub(crate) fn looks_like_html(body: &[u8]) -> bool {
    let start = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let start: Vec<u8> = start
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take(15)
        .map(|b| b.to_ascii_lowercase())
        .collect();
    start.starts_with(b"<html")
        || start.starts_with(b"<!doctype html")
        || start.starts_with(b"<head")
        || start.starts_with(b"<body")
}

/// Whether the response says it is HTML.
pub(crate) fn is_html_type(h: &HeaderMap) -> bool {
    h.get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.to_ascii_lowercase().starts_with("text/html"))
        .unwrap_or(false)
}
