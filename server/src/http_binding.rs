//! The TAXII HTTP binding: POST only, X-TAXII headers both ways, bounded bodies, every
//! failure answered with a Status_Message, one log line per request.

use std::time::{Duration, Instant};

use actix_web::http::header::{HeaderMap, CONTENT_TYPE};
use actix_web::http::{ConnectionType, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use futures_util::StreamExt;
use taxii::http as th;
use taxii::{Envelope, Message, Version};
use tracing::{info, warn};

use crate::auth::{AuthError, Caller};
use crate::error::ServiceError;
use crate::services::{self, Reply};
use crate::state::State;

/// Which service a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Discovery,
    CollectionManagement,
    Poll,
    Inbox,
}

/// What a service handler knows about the request.
pub struct Request {
    pub state: State,
    pub caller: Caller,
    pub version: Version,
    pub https: bool,
    pub message_id: String,
}

/// Serve one TAXII request at a path of `service`.
pub async fn serve(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<State>,
    service: Service,
) -> HttpResponse {
    let started = Instant::now();
    let state: State = state.get_ref().clone();
    let https = req.connection_info().scheme() == "https";
    let peer_ip = req.peer_addr().map(|a| a.ip());
    let peer = peer_ip.map(|ip| ip.to_string()).unwrap_or_default();

    if req.method() != Method::POST {
        warn!(path = req.path(), method = %req.method(), peer, "refused: TAXII services take POST only");
        return HttpResponse::MethodNotAllowed()
            .insert_header(("Allow", "POST"))
            .content_type("text/plain")
            .body("TAXII services accept POST only\n");
    }

    let headers = req.headers();
    let header_version = header_str(headers, th::X_TAXII_CONTENT_TYPE).map(th::version_of_binding);
    let answer_version = header_str(headers, th::X_TAXII_ACCEPT)
        .and_then(th::version_of_binding)
        .or(header_version.flatten())
        .unwrap_or(Version::V11);
    check_protocol_header(headers, https, &peer);

    // The body, bounded (a declared length over the limit is refused before reading).
    let limit = state.config.limits.max_body_bytes;
    let declared = header_str(headers, "Content-Length").and_then(|v| v.trim().parse::<u64>().ok());
    let body_timeout = Duration::from_secs(state.config.limits.body_timeout_secs);
    let body = if declared.is_some_and(|n| n > limit as u64) {
        Err(BodyError::TooLarge)
    } else {
        match tokio::time::timeout(body_timeout, read_body(payload, limit)).await {
            Ok(read) => read,
            Err(_) => Err(BodyError::TooSlow),
        }
    };
    let body = match body {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            warn!(
                path = req.path(),
                peer, limit, "refused: request body over the limit"
            );
            state.metrics.request("-", "-", "-", "BAD_MESSAGE");
            let status = ServiceError::BadMessage(format!(
                "request body is larger than the limit of {limit} bytes"
            ))
            .to_status("0");
            return respond(
                StatusCode::PAYLOAD_TOO_LARGE,
                answer_version,
                https,
                &Envelope {
                    version: answer_version,
                    message: Message::StatusMessage(status),
                },
            );
        }
        Err(BodyError::TooSlow) => {
            let secs = body_timeout.as_secs();
            warn!(
                path = req.path(),
                peer, secs, "refused: request body not received in time"
            );
            let status = ServiceError::BadMessage(format!(
                "the request body did not arrive within {secs} s"
            ))
            .to_status("0");
            let mut response = respond(
                StatusCode::REQUEST_TIMEOUT,
                answer_version,
                https,
                &Envelope {
                    version: answer_version,
                    message: Message::StatusMessage(status),
                },
            );
            // The rest of the body may still be on its way: do not wait for it.
            response
                .head_mut()
                .set_connection_type(ConnectionType::Close);
            return response;
        }
        Err(BodyError::Io(e)) => {
            warn!(path = req.path(), peer, cause = %e, "refused: body could not be read");
            return HttpResponse::BadRequest().finish();
        }
    };

    // The message.
    let limits = taxii::read::Limits {
        max_depth: state.config.limits.max_depth,
        max_text: state.config.limits.max_text_bytes,
    };
    let parsed = if body.len() > 256 * 1024 {
        let b = body.clone();
        web::block(move || taxii::read::read_message(&b, &limits))
            .await
            .unwrap_or_else(|e| {
                Err(taxii::read::ReadError {
                    kind: taxii::read::ReadErrorKind::Malformed(e.to_string()),
                    message_id: None,
                    version: None,
                })
            })
    } else {
        taxii::read::read_message(&body, &limits)
    };
    let envelope = match parsed {
        Ok(env) => env,
        Err(e) => {
            let version = e.version.unwrap_or(answer_version);
            let id = e.message_id.clone().unwrap_or_else(|| "0".to_string());
            warn!(path = req.path(), peer, cause = %e, "refused: unreadable TAXII message");
            state.metrics.request("-", "-", "-", "BAD_MESSAGE");
            let status = ServiceError::BadMessage(e.to_string()).to_status(&id);
            return respond_status(version, https, status);
        }
    };
    let version = envelope.version;
    let message_id = envelope.message.message_id().to_string();
    let name = envelope.message.name(version);
    let is_poll = matches!(
        envelope.message,
        Message::PollRequest(_) | Message::PollFulfillment(_)
    );
    let asked_collection =
        known_collection(&state, requested_collection(&envelope.message)).to_string();

    match header_version {
        Some(Some(v)) if v != version => {
            warn!(
                path = req.path(),
                peer,
                message = name,
                "refused: X-TAXII-Content-Type disagrees with the body"
            );
            state.metrics.request(name, "-", "-", "BAD_MESSAGE");
            let status = ServiceError::BadMessage(format!(
                "X-TAXII-Content-Type says {} but the body is a {} message",
                th::message_binding(v),
                th::message_binding(version)
            ))
            .to_status(&message_id);
            return respond_status(version, https, status);
        }
        Some(None) => {
            warn!(
                path = req.path(),
                peer, "refused: unknown X-TAXII-Content-Type"
            );
            state.metrics.request(name, "-", "-", "BAD_MESSAGE");
            let status = ServiceError::BadMessage("unknown X-TAXII-Content-Type".into())
                .to_status(&message_id);
            return respond_status(version, https, status);
        }
        _ => {}
    }

    // Who is asking.
    // A header that is not text is bad credentials, not no credentials: it is refused
    // (and counted as a failed login), never served as anonymous.
    let authorization = headers
        .get("Authorization")
        .map(|v| v.to_str().unwrap_or_default().to_string());
    // Credentials checked a moment ago are answered here; a password check (argon2 takes
    // tens of milliseconds and 19 MiB) runs on the check threads, waited for without
    // holding a thread of the store pool.
    let caller = match state.auth.known_caller(peer_ip, authorization.as_deref()) {
        Some(caller) => Ok(caller),
        None => state.auth.authenticate_async(peer_ip, authorization).await,
    };
    let caller = match caller {
        Ok(c) => c,
        Err(AuthError::Throttled) => {
            // Logged at warn once when the address went over the limit; not per request,
            // so a flood cannot flood the log; counted per request in the metrics.
            tracing::debug!(
                path = req.path(),
                peer,
                message = name,
                "refused: login throttled"
            );
            state.metrics.request(name, "-", "-", "UNAUTHORIZED");
            if is_poll {
                state.metrics.poll("-", "-", "UNAUTHORIZED", 0, 0);
            }
            return respond_status(
                version,
                https,
                ServiceError::Unauthorized.to_status(&message_id),
            );
        }
        Err(e) => {
            warn!(path = req.path(), peer, message = name, cause = %e, "refused: login failed");
            state.metrics.request(name, "-", "-", "UNAUTHORIZED");
            if is_poll {
                state.metrics.poll("-", "-", "UNAUTHORIZED", 0, 0);
            }
            return respond_status(
                version,
                https,
                ServiceError::Unauthorized.to_status(&message_id),
            );
        }
    };

    let request = Request {
        state: state.clone(),
        caller,
        version,
        https,
        message_id: message_id.clone(),
    };
    let user = request.caller.name().to_string();
    let path = req.path().to_string();
    match services::dispatch(request, service, envelope.message).await {
        Ok(Reply::Message {
            message,
            collection,
        }) => {
            let ms = started.elapsed().as_millis() as u64;
            info!(path, user, peer, message = name, collection, ms, "served");
            let shown = known_collection(&state, Some(&collection));
            // A handler may answer with a status of its own (an inbox push whose blocks
            // were all refused gets FAILURE).
            let outcome = match message.as_ref() {
                Message::StatusMessage(s) => s.status_type.as_str(),
                _ => "SUCCESS",
            };
            state.metrics.request(name, shown, &user, outcome);
            if is_poll {
                // A count-only answer: no blocks.
                state.metrics.poll(shown, &user, "SUCCESS", 0, 0);
            }
            respond(
                StatusCode::OK,
                version,
                https,
                &Envelope {
                    version,
                    message: *message,
                },
            )
        }
        Ok(Reply::Stream(stream)) => {
            // The poll stream logs its own line and counts its blocks when it ends.
            state
                .metrics
                .request(name, &asked_collection, &user, "SUCCESS");
            HttpResponse::Ok()
                .insert_header((CONTENT_TYPE, "application/xml"))
                .insert_header((th::X_TAXII_CONTENT_TYPE, th::message_binding(version)))
                .insert_header((th::X_TAXII_SERVICES, th::services(version)))
                .insert_header((th::X_TAXII_PROTOCOL, protocol(https)))
                .streaming(stream)
        }
        Err(e) => {
            match &e {
                ServiceError::Failure(cause) | ServiceError::DiskFull(cause) => {
                    tracing::error!(path, user, peer, message = name, cause, "request failed")
                }
                other => {
                    warn!(path, user, peer, message = name, cause = %other, "refused")
                }
            }
            let status = e.status_type().as_str();
            state
                .metrics
                .request(name, &asked_collection, &user, status);
            if is_poll {
                state.metrics.poll(&asked_collection, &user, status, 0, 0);
            }
            respond_status(version, https, e.to_status(&message_id))
        }
    }
}

/// The collection a message names, if any.
fn requested_collection(message: &Message) -> Option<&str> {
    match message {
        Message::PollRequest(m) => Some(&m.collection_name),
        Message::PollFulfillment(m) => Some(&m.collection_name),
        Message::SubscriptionManagementRequest(m) => Some(&m.collection_name),
        _ => None,
    }
}

/// A collection name as a metrics label: configured ones as they are, anything else `-`
/// (so a client cannot make up label values).
fn known_collection<'a>(state: &State, name: Option<&'a str>) -> &'a str {
    match name {
        Some(n) if state.collections.contains_key(n) => n,
        _ => "-",
    }
}

/// The X-TAXII-Protocol value of the transport.
pub fn protocol(https: bool) -> &'static str {
    if https {
        th::PROTOCOL_HTTPS
    } else {
        th::PROTOCOL_HTTP
    }
}

fn respond_status(
    version: Version,
    https: bool,
    mut status: taxii::status::StatusMessage,
) -> HttpResponse {
    // TAXII 1.0 message ids are digits.
    status.header.message_id = taxii::new_message_id(version);
    respond(
        StatusCode::OK,
        version,
        https,
        &Envelope {
            version,
            message: Message::StatusMessage(status),
        },
    )
}

fn respond(code: StatusCode, version: Version, https: bool, env: &Envelope) -> HttpResponse {
    let body = taxii::write::write_message(env);
    HttpResponse::build(code)
        .insert_header((CONTENT_TYPE, "application/xml"))
        .insert_header((th::X_TAXII_CONTENT_TYPE, th::message_binding(version)))
        .insert_header((th::X_TAXII_SERVICES, th::services(version)))
        .insert_header((th::X_TAXII_PROTOCOL, protocol(https)))
        .body(body)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A client claiming the other transport is served anyway, with a warning.
fn check_protocol_header(headers: &HeaderMap, https: bool, peer: &str) {
    if let Some(p) = header_str(headers, th::X_TAXII_PROTOCOL) {
        let expected = protocol(https);
        if p.trim() != expected {
            warn!(
                peer,
                sent = p,
                expected,
                "X-TAXII-Protocol does not match the transport; served anyway"
            );
        }
    }
}

enum BodyError {
    TooLarge,
    TooSlow,
    Io(String),
}

async fn read_body(mut payload: web::Payload, limit: usize) -> Result<Bytes, BodyError> {
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| BodyError::Io(e.to_string()))?;
        if buf.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}
