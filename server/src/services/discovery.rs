//! Discovery: the four services at their configured paths.

use taxii::{DiscoveryResponse, Header, Message, ServiceInstance, ServiceType};

use super::{address, response_header, Reply};
use crate::error::ServiceError;
use crate::http_binding::Request;

/// Answer a Discovery_Request.
pub fn discover(req: &Request, _h: &Header) -> Result<Reply, ServiceError> {
    let paths = &req.state.config.paths;
    let version = taxii::http::services(req.version).to_string();
    let instance = |service_type, path: &str, bindings: Vec<String>| ServiceInstance {
        service_type,
        service_version: version.clone(),
        available: Some(true),
        endpoint: address(req, path),
        supported_queries: Vec::new(),
        content_bindings: bindings,
        message: None,
    };
    let bindings = taxii::SUPPORTED_BINDINGS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let services = vec![
        instance(ServiceType::Discovery, &paths.discovery, Vec::new()),
        instance(
            ServiceType::CollectionManagement,
            &paths.collection_management,
            Vec::new(),
        ),
        instance(ServiceType::Poll, &paths.poll, Vec::new()),
        instance(ServiceType::Inbox, &paths.inbox, bindings),
    ];
    Ok(Reply::message(
        Message::DiscoveryResponse(DiscoveryResponse {
            header: response_header(req),
            services,
        }),
        "-",
    ))
}
