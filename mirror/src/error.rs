//! Error types: one per layer (configuration, one source's run, the public handle).

use std::time::Duration;

/// A `[[source]]` table that cannot work, named by source and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A field has a bad value.
    #[error("source {name}: {field}: {reason}")]
    Invalid {
        /// Source name.
        name: String,
        /// Offending field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two sources share a name (names key checkpoints and status).
    #[error("source name {0} is used twice")]
    DuplicateName(String),
}

/// Errors of the public [`crate::MirrorHandle`] API.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// No source has that name.
    #[error("no source named {0}")]
    UnknownSource(String),
    /// The source is disabled (by config, bad config or missing secret).
    #[error("source {0} is disabled")]
    Disabled(String),
    /// The mirror is shutting down.
    #[error("the mirror is shutting down")]
    ShuttingDown,
    /// Reading persisted state failed.
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    /// Persisted state could not be decoded.
    #[error("persisted state: {0}")]
    Decode(String),
}

/// How a source reacts to a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultClass {
    /// Retry with exponential backoff; a failing window is split.
    Transient,
    /// Credentials refused: stop until restart, config change or poll-now.
    Auth,
    /// Upstream refused the request or speaks another protocol: an error line, and the
    /// next attempt only at the regular interval (retrying sooner cannot help).
    Rejected,
}

/// What went wrong during one run of a source: an upstream fault or a local one.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Building the HTTP client failed (unreadable CA file, bad key, bad proxy URL).
    #[error("client setup: {0}")]
    Setup(String),
    /// Connect or request timed out.
    #[error("timeout: {0}")]
    Timeout(String),
    /// Connection refused, reset, DNS or TLS failure.
    #[error("connection failed: {0}")]
    Connect(String),
    /// HTTP 401 or 403.
    #[error("authentication failed: HTTP {0}")]
    HttpAuth(u16),
    /// HTTP 406.
    #[error("upstream rejected request headers (HTTP 406)")]
    HeadersRejected,
    /// HTTP 400 and other client errors.
    #[error("request rejected: HTTP {status}{detail}")]
    RequestRejected {
        /// HTTP status.
        status: u16,
        /// Start of the body, sanitised, prefixed with ": " when present.
        detail: String,
    },
    /// HTTP 5xx, 408 or 429.
    #[error("upstream error: HTTP {status}")]
    HttpTransient {
        /// HTTP status.
        status: u16,
        /// `Retry-After`, when given in seconds.
        retry_after: Option<Duration>,
    },
    /// A 3xx answer: we do not follow redirects with credentials attached.
    #[error("upstream redirected (HTTP {status}) to {location}")]
    Redirect {
        /// HTTP status.
        status: u16,
        /// `Location` header.
        location: String,
    },
    /// Body larger than `max_body_bytes`.
    #[error("upstream response larger than max_body_bytes ({limit})")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The body ended early (connection closed before Content-Length, or read error).
    #[error("truncated upstream response at byte {received}")]
    Truncated {
        /// Bytes received before the end.
        received: u64,
    },
    /// Strict decoding found bytes that are not UTF-8.
    #[error("invalid UTF-8 at byte offset {offset} in upstream response")]
    InvalidUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// An HTML page where a TAXII message or JSON was expected.
    #[error("upstream sent an HTML page (HTTP {status}) instead of a message")]
    HtmlPage {
        /// HTTP status.
        status: u16,
    },
    /// Answer in another TAXII version than asked for.
    #[error("protocol mismatch: {0}")]
    ProtocolMismatch(String),
    /// Any `<!DOCTYPE` in the response: refused whole, nothing expanded.
    #[error("upstream response carries a DOCTYPE (refused)")]
    Doctype,
    /// Not a well-formed TAXII message.
    #[error("malformed upstream response: {0}")]
    Malformed(String),
    /// A TAXII Status_Message instead of the expected response.
    #[error("upstream status {status_type}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Status {
        /// Status type as on the wire.
        status_type: String,
        /// Its message, sanitised.
        message: Option<String>,
        /// `ESTIMATED_WAIT` of a RETRY status.
        retry_after: Option<Duration>,
    },
    /// Result parts that make no sense (repeated part, empty parts, too many).
    #[error("paging: {0}")]
    Paging(String),
    /// A content block could not be read as STIX.
    #[error("content block {index}: {reason}")]
    Content {
        /// Zero-based index of the block in the window.
        index: usize,
        /// Why.
        reason: String,
    },
    /// Discovery gave no usable poll service.
    #[error("discovery: {0}")]
    Discovery(String),
    /// A REST page that is not the JSON we expect.
    #[error("bad JSON from upstream: {0}")]
    Json(String),
    /// A `next` link pointing at another host than the configured base.
    #[error("refused next link to another host: {0}")]
    ForeignHost(String),
    /// The local store failed.
    #[error("store: {0}")]
    Store(String),
    /// The mirror is shutting down; nothing was committed for the interrupted request.
    #[error("cancelled by shutdown")]
    Cancelled,
}

impl SourceError {
    /// How the scheduler reacts to this error.
    pub fn class(&self) -> FaultClass {
        use SourceError::*;
        match self {
            HttpAuth(_) => FaultClass::Auth,
            Status { status_type, .. } => match status_type.as_str() {
                "UNAUTHORIZED" | "DENIED" => FaultClass::Auth,
                "FAILURE" | "RETRY" | "NETWORK_ERROR" | "PENDING" => FaultClass::Transient,
                // A status where a poll response belongs (SUCCESS included) is unusual but
                // says nothing permanent: try again later.
                "SUCCESS" => FaultClass::Transient,
                _ => FaultClass::Rejected,
            },
            HeadersRejected
            | RequestRejected { .. }
            | Redirect { .. }
            | ProtocolMismatch(_)
            | Setup(_)
            | ForeignHost(_) => FaultClass::Rejected,
            Timeout(_)
            | Connect(_)
            | HttpTransient { .. }
            | TooLarge { .. }
            | Truncated { .. }
            | InvalidUtf8 { .. }
            | HtmlPage { .. }
            | Doctype
            | Malformed(_)
            | Paging(_)
            | Content { .. }
            | Discovery(_)
            | Json(_)
            | Store(_)
            | Cancelled => FaultClass::Transient,
        }
    }

    /// Delay the upstream asked for (429 `Retry-After`, RETRY `ESTIMATED_WAIT`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SourceError::HttpTransient { retry_after, .. }
            | SourceError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether a smaller window could avoid the fault (big or slow responses).
    pub fn window_related(&self) -> bool {
        use SourceError::*;
        matches!(
            self,
            Timeout(_)
                | HttpTransient { .. }
                | TooLarge { .. }
                | Truncated { .. }
                | HtmlPage { .. }
                | Malformed(_)
                | Paging(_)
                | Status { .. }
                | Content { .. }
                | InvalidUtf8 { .. }
                | Doctype
        )
    }
}

/// Keep at most `max` characters of an upstream-provided text, on one line, for logs.
pub(crate) fn sanitize(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (count, c) in text.chars().enumerate() {
        if count >= max {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}
