//! One module per TAXII service; [`dispatch`] routes a message to its handler.

mod collections;
mod discovery;
mod inbox;
mod poll;
mod subscriptions;

use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use taxii::{Message, ServiceAddress, Version};

use crate::error::ServiceError;
use crate::http_binding::{Request, Service};

/// A streamed response body.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// What a handler answers.
pub enum Reply {
    /// A whole message, with the collection it concerned for the log line.
    Message {
        message: Box<Message>,
        collection: String,
    },
    /// A poll response written while it is sent.
    Stream(BodyStream),
}

impl Reply {
    fn message(message: Message, collection: impl Into<String>) -> Reply {
        Reply::Message {
            message: Box::new(message),
            collection: collection.into(),
        }
    }
}

/// Route a message received at a path of `service`.
pub async fn dispatch(
    req: Request,
    service: Service,
    message: Message,
) -> Result<Reply, ServiceError> {
    let single = req.state.config.paths.single_endpoint && service == Service::Discovery;
    let allowed = |s: Service| single || s == service;
    match message {
        Message::DiscoveryRequest(h) if allowed(Service::Discovery) => {
            discovery::discover(&req, &h)
        }
        Message::CollectionInformationRequest(h) if allowed(Service::CollectionManagement) => {
            collections::information(&req, &h).await
        }
        Message::SubscriptionManagementRequest(m) if allowed(Service::CollectionManagement) => {
            subscriptions::manage(&req, m).await
        }
        Message::PollRequest(m) if allowed(Service::Poll) => poll::poll(&req, m).await,
        Message::PollFulfillment(m) if allowed(Service::Poll) => poll::fulfil(&req, m).await,
        Message::InboxMessage(m) if allowed(Service::Inbox) => inbox::receive(&req, m).await,
        other => Err(ServiceError::UnsupportedMessage(
            other.name(req.version).to_string(),
        )),
    }
}

/// The address of one of our services, for the transport the client used.
pub fn address(req: &Request, path: &str) -> ServiceAddress {
    let state = &req.state;
    let (base, protocol) = match (&state.http_base, req.https) {
        (Some(http), false) => (http.as_str(), taxii::http::PROTOCOL_HTTP),
        _ => (state.https_base.as_str(), taxii::http::PROTOCOL_HTTPS),
    };
    ServiceAddress {
        protocol_binding: protocol.to_string(),
        address: format!("{base}{path}"),
        message_bindings: vec![taxii::http::message_binding(req.version).to_string()],
    }
}

/// Response header for a request.
pub fn response_header(req: &Request) -> taxii::Header {
    taxii::Header::response(taxii::new_message_id(req.version), req.message_id.clone())
}

/// Run blocking store work off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    actix_web::web::block(f)
        .await
        .map_err(|e| ServiceError::Failure(format!("blocking task failed: {e}")))?
}

/// True for a 1.1 request.
pub fn is_v11(req: &Request) -> bool {
    req.version == Version::V11
}
