//! Subscription management: SUBSCRIBE, UNSUBSCRIBE, STATUS, PAUSE, RESUME, kept in the
//! store. A subscription is polled with a Poll_Request naming its Subscription_ID; we
//! never push.

use serde::{Deserialize, Serialize};
use taxii::{
    Message, PollParameters, ResponseType, SubscriptionAction, SubscriptionInfo,
    SubscriptionManagementRequest, SubscriptionManagementResponse, SubscriptionStatus,
};

use super::poll::{check_read, served_bindings};
use super::{address, blocking, response_header, Reply};
use crate::error::ServiceError;
use crate::http_binding::Request;

/// Store metadata namespace of subscriptions.
const NS: &str = "subscription";

/// A subscription as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubscriptionRecord {
    pub id: String,
    pub collection: String,
    pub user: String,
    pub paused: bool,
    pub count_only: bool,
    pub content_bindings: Vec<String>,
    pub created: String,
}

impl SubscriptionRecord {
    /// Load one by id.
    pub fn load(store: &store::Store, id: &str) -> Result<Option<Self>, ServiceError> {
        match store.meta_get(NS, id)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| ServiceError::Failure(format!("subscription {id}: {e}"))),
        }
    }

    fn save(&self, store: &store::Store) -> Result<(), ServiceError> {
        let bytes = serde_json::to_vec(self)
            .map_err(|e| ServiceError::Failure(format!("subscription {}: {e}", self.id)))?;
        store.meta_put(NS, &self.id, &bytes)?;
        store.flush()?;
        Ok(())
    }

    /// The poll parameters the subscription stands for.
    pub fn parameters(&self) -> PollParameters {
        PollParameters {
            allow_asynch: false,
            response_type: if self.count_only {
                ResponseType::CountOnly
            } else {
                ResponseType::Full
            },
            content_bindings: self.content_bindings.clone(),
            query_format: None,
            delivery_requested: false,
        }
    }
}

/// Answer a Subscription_Management_Request.
pub async fn manage(
    req: &Request,
    m: SubscriptionManagementRequest,
) -> Result<Reply, ServiceError> {
    check_read(req, &m.collection_name)?;
    let state = req.state.clone();
    let user = req.caller.name().to_string();
    let collection = m.collection_name.clone();

    let records: Vec<(SubscriptionRecord, SubscriptionStatus)> = match m.action {
        SubscriptionAction::Subscribe => {
            let params = m.parameters.clone().unwrap_or_default();
            if params.query_format.is_some() {
                return Err(ServiceError::UnsupportedQuery);
            }
            served_bindings(&params.content_bindings)?;
            let record = SubscriptionRecord {
                id: taxii::new_message_id(taxii::Version::V11),
                collection: collection.clone(),
                user: user.clone(),
                paused: false,
                count_only: params.response_type == ResponseType::CountOnly,
                content_bindings: params.content_bindings,
                created: taxii::Timestamp::now().to_string(),
            };
            let r = record.clone();
            blocking(move || r.save(&state.store)).await?;
            vec![(record, SubscriptionStatus::Active)]
        }
        SubscriptionAction::Status if m.subscription_id.is_none() => {
            let (u, c) = (user.clone(), collection.clone());
            blocking(move || {
                let mut out = Vec::new();
                for (_, bytes) in state.store.meta_scan(NS)? {
                    if let Ok(r) = serde_json::from_slice::<SubscriptionRecord>(&bytes) {
                        if r.user == u && r.collection == c {
                            let status = status_of(&r);
                            out.push((r, status));
                        }
                    }
                }
                Ok(out)
            })
            .await?
        }
        action => {
            let id = m.subscription_id.clone().ok_or_else(|| {
                ServiceError::BadMessage("this action needs a Subscription_ID".into())
            })?;
            let (u, c) = (user.clone(), collection.clone());
            blocking(move || {
                let record = SubscriptionRecord::load(&state.store, &id)?
                    .filter(|r| r.user == u && r.collection == c)
                    .ok_or_else(|| ServiceError::NotFound(id.clone()))?;
                let mut record = record;
                let status = match action {
                    SubscriptionAction::Unsubscribe => {
                        state.store.meta_delete(NS, &id)?;
                        state.store.flush()?;
                        SubscriptionStatus::Unsubscribed
                    }
                    SubscriptionAction::Pause => {
                        record.paused = true;
                        record.save(&state.store)?;
                        SubscriptionStatus::Paused
                    }
                    SubscriptionAction::Resume => {
                        record.paused = false;
                        record.save(&state.store)?;
                        SubscriptionStatus::Active
                    }
                    _ => status_of(&record),
                };
                Ok(vec![(record, status)])
            })
            .await?
        }
    };

    let poll = address(req, &req.state.config.paths.poll);
    let subscriptions = records
        .into_iter()
        .map(|(r, status)| SubscriptionInfo {
            status,
            parameters: Some(r.parameters()),
            subscription_id: r.id,
            poll_instances: vec![poll.clone()],
        })
        .collect();
    Ok(Reply::message(
        Message::SubscriptionManagementResponse(SubscriptionManagementResponse {
            header: response_header(req),
            collection_name: collection.clone(),
            message: None,
            subscriptions,
        }),
        collection,
    ))
}

fn status_of(r: &SubscriptionRecord) -> SubscriptionStatus {
    if r.paused {
        SubscriptionStatus::Paused
    } else {
        SubscriptionStatus::Active
    }
}
