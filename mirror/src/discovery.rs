//! Finding the poll service through a TAXII 1.1 Discovery service.

use taxii::http as th;
use taxii::{Envelope, Header, Message, ServiceType, Version};

use crate::error::{sanitize, SourceError};
use crate::taxii_client::{status_error, TaxiiEndpoint};

/// Ask the discovery service at `ep.url` for its poll services and pick one: TAXII 1.1,
/// available, on the discovery URL's host and port, HTTPS (plain HTTP only when discovery
/// itself is plain HTTP, as in labs), preferring the XML 1.1 message binding. Credentials are
/// never sent to a host other than the configured one.
pub(crate) async fn discover_poll_url(ep: &TaxiiEndpoint) -> Result<reqwest::Url, SourceError> {
    let request = Envelope {
        version: Version::V11,
        message: Message::DiscoveryRequest(Header::request(taxii::new_message_id(Version::V11))),
    };
    let received = ep.exchange(&request).await?;
    let services = match received.message {
        Message::DiscoveryResponse(r) => r.services,
        Message::StatusMessage(s) => return Err(status_error(&s)),
        other => {
            return Err(SourceError::Malformed(format!(
                "expected Discovery_Response, got {}",
                other.name(Version::V11)
            )))
        }
    };

    let base = &ep.url;
    let mut best: Option<(u8, reqwest::Url)> = None;
    let mut refused = Vec::new();
    for s in services {
        if s.service_type != ServiceType::Poll || s.available == Some(false) {
            continue;
        }
        if !s.service_version.is_empty() && s.service_version.trim() != th::SERVICES_11 {
            continue;
        }
        let Ok(url) = base.join(s.endpoint.address.trim()) else {
            refused.push(format!(
                "unparsable address {}",
                sanitize(&s.endpoint.address, 100)
            ));
            continue;
        };
        if url.host_str() != base.host_str()
            || url.port_or_known_default() != base.port_or_known_default()
        {
            refused.push(format!(
                "{} is on another host",
                sanitize(url.as_str(), 100)
            ));
            continue;
        }
        let https = url.scheme() == "https";
        if !https && base.scheme() == "https" {
            refused.push(format!("{} is not HTTPS", sanitize(url.as_str(), 100)));
            continue;
        }
        let xml11 = s.endpoint.message_bindings.is_empty()
            || s.endpoint
                .message_bindings
                .iter()
                .any(|b| b.trim() == th::MESSAGE_XML_11);
        let score = u8::from(https) * 2 + u8::from(xml11);
        if best.as_ref().is_none_or(|(b, _)| score > *b) {
            best = Some((score, url));
        }
    }
    match best {
        Some((_, url)) => Ok(url),
        None if refused.is_empty() => Err(SourceError::Discovery(
            "no TAXII 1.1 poll service listed".into(),
        )),
        None => Err(SourceError::Discovery(format!(
            "no usable poll service ({})",
            refused.join("; ")
        ))),
    }
}
