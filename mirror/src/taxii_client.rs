//! TAXII 1.1 over HTTP: one request, one classified answer.
//!
//! Every request carries the full header set of the HTTP binding (some upstreams answer 406
//! without `Accept`), Basic credentials when configured, and is answered by either the
//! message we expect or a [`SourceError`] that says why not.

use base64::Engine as _;
use taxii::http as th;
use taxii::read::{read_message, Limits, ReadErrorKind};
use taxii::{Envelope, Message, StatusType, Version};

use crate::config::Secret;
use crate::error::{sanitize, SourceError};
use crate::http::{
    check_status, decode_utf8, is_html_type, looks_like_html, read_body, send_error,
};

/// Basic credentials. Both parts are secrets: for OTX the user name is the API key.
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    pub username: Secret,
    pub password: Secret,
}

impl Credentials {
    fn header_value(&self) -> String {
        let raw = format!("{}:{}", self.username.expose(), self.password.expose());
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// A TAXII 1.1 endpoint with its client and decoding options.
#[derive(Debug, Clone)]
pub(crate) struct TaxiiEndpoint {
    pub client: reqwest::Client,
    pub url: reqwest::Url,
    pub credentials: Option<Credentials>,
    pub max_body_bytes: u64,
    pub lenient: bool,
}

/// A message received, with whether its bytes had to be repaired (lenient decoding).
#[derive(Debug)]
pub(crate) struct Received {
    pub message: Message,
    pub repaired: bool,
    pub bytes: usize,
}

impl TaxiiEndpoint {
    /// POST one message and read the answer. Status messages are turned into errors unless
    /// `want_status` says the caller handles them.
    pub async fn exchange(&self, request: &Envelope) -> Result<Received, SourceError> {
        let body = taxii::write::write_message(request);
        let protocol = if self.url.scheme() == "https" {
            th::PROTOCOL_HTTPS
        } else {
            th::PROTOCOL_HTTP
        };
        let mut req = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/xml")
            .header(reqwest::header::ACCEPT, "application/xml")
            .header(th::X_TAXII_CONTENT_TYPE, th::MESSAGE_XML_11)
            .header(th::X_TAXII_ACCEPT, th::MESSAGE_XML_11)
            .header(th::X_TAXII_SERVICES, th::SERVICES_11)
            .header(th::X_TAXII_PROTOCOL, protocol)
            .body(body);
        if let Some(c) = &self.credentials {
            req = req.header(reqwest::header::AUTHORIZATION, c.header_value());
        }

        let resp = req.send().await.map_err(send_error)?;
        let resp = check_status(resp).await?;
        let status = resp.status().as_u16();
        let html_type = is_html_type(resp.headers());
        if let Some(v) = resp.headers().get(th::X_TAXII_CONTENT_TYPE) {
            let v = v.to_str().unwrap_or("");
            if th::version_of_binding(v) != Some(Version::V11) {
                return Err(SourceError::ProtocolMismatch(format!(
                    "X-TAXII-Content-Type is {:?}, asked for {}",
                    sanitize(v, 80),
                    th::MESSAGE_XML_11
                )));
            }
        }

        let raw = read_body(resp, self.max_body_bytes).await?;
        let bytes = raw.len();
        if looks_like_html(&raw) {
            return Err(SourceError::HtmlPage { status });
        }
        let (body, repaired) = decode_utf8(raw, self.lenient)?;

        // Parsing a large body is CPU work: keep it off the async threads.
        let parsed = tokio::task::spawn_blocking(move || read_message(&body, &Limits::default()))
            .await
            .map_err(|e| SourceError::Malformed(format!("parser task failed: {e}")))?;
        let env = match parsed {
            Ok(env) => env,
            Err(e) => return Err(read_error(e, status, html_type)),
        };
        if env.version != Version::V11 {
            return Err(SourceError::ProtocolMismatch(
                "TAXII 1.0 message in answer to a TAXII 1.1 request".into(),
            ));
        }
        Ok(Received {
            message: env.message,
            repaired,
            bytes,
        })
    }
}

fn read_error(e: taxii::read::ReadError, status: u16, html_type: bool) -> SourceError {
    if e.version == Some(Version::V10) {
        return SourceError::ProtocolMismatch(
            "TAXII 1.0 message in answer to a TAXII 1.1 request".into(),
        );
    }
    match &e.kind {
        ReadErrorKind::Doctype => SourceError::Doctype,
        ReadErrorKind::InvalidUtf8 { offset } => SourceError::InvalidUtf8 { offset: *offset },
        ReadErrorKind::UnknownMessage { namespace, .. } if namespace == taxii::NS_10 => {
            SourceError::ProtocolMismatch(
                "TAXII 1.0 message in answer to a TAXII 1.1 request".into(),
            )
        }
        _ if html_type => SourceError::HtmlPage { status },
        _ => SourceError::Malformed(sanitize(&e.to_string(), 300)),
    }
}

/// Turn a Status_Message received where another message was expected into an error.
/// A status is never "zero new indicators".
pub(crate) fn status_error(s: &taxii::status::StatusMessage) -> SourceError {
    let status_type = s
        .raw_status_type
        .clone()
        .unwrap_or_else(|| s.status_type.as_str().to_string());
    let retry_after = if s.status_type == StatusType::Retry {
        s.details
            .iter()
            .find(|d| d.name == "ESTIMATED_WAIT")
            .and_then(|d| d.value.trim().parse::<u64>().ok())
            .map(|secs| std::time::Duration::from_secs(secs.min(86_400)))
    } else {
        None
    };
    SourceError::Status {
        status_type: sanitize(&status_type, 60),
        message: s.message.as_deref().map(|m| sanitize(m, 200)),
        retry_after,
    }
}
