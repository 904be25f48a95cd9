//! Collection information: the collections the caller may read, with their services.

use taxii::{CollectionInfo, CollectionInformationResponse, CollectionType, Header, Message};

use super::{address, blocking, response_header, Reply};
use crate::auth::{Access, Caller};
use crate::error::ServiceError;
use crate::http_binding::Request;

/// Answer a Collection_Information_Request (1.0: Feed_Information_Request).
pub async fn information(req: &Request, _h: &Header) -> Result<Reply, ServiceError> {
    let state = req.state.clone();
    let caller = req.caller.clone();
    let visible: Vec<(String, String, bool)> = state
        .config
        .collections
        .iter()
        .filter(|c| state.auth.may(&caller, &c.name, Access::Read))
        .map(|c| {
            let description = c
                .description
                .clone()
                .unwrap_or_else(|| format!("Collection {}", c.name));
            let writable = state.auth.may(&caller, &c.name, Access::Write);
            (c.name.clone(), description, writable)
        })
        .collect();
    if visible.is_empty() && caller == Caller::Anonymous && !state.config.collections.is_empty() {
        return Err(ServiceError::Unauthorized);
    }

    let names: Vec<String> = visible.iter().map(|v| v.0.clone()).collect();
    let st = state.clone();
    let volumes = blocking(move || {
        names
            .iter()
            .map(|n| st.store.total(n).map_err(ServiceError::from))
            .collect::<Result<Vec<u64>, _>>()
    })
    .await?;

    let paths = &state.config.paths;
    let collections = visible
        .into_iter()
        .zip(volumes)
        .map(|((name, description, writable), volume)| CollectionInfo {
            name,
            collection_type: CollectionType::DataFeed,
            available: Some(true),
            description,
            volume: Some(volume),
            content_bindings: taxii::SUPPORTED_BINDINGS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            polling_services: vec![address(req, &paths.poll)],
            subscription_services: vec![address(req, &paths.collection_management)],
            receiving_inbox_services: if writable {
                vec![address(req, &paths.inbox)]
            } else {
                Vec::new()
            },
        })
        .collect();
    Ok(Reply::message(
        Message::CollectionInformationResponse(CollectionInformationResponse {
            header: response_header(req),
            collections,
        }),
        "-",
    ))
}
