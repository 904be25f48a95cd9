//! Inbox: STIX content pushed into collections the caller may write, stored whole or not
//! at all.

use taxii::{InboxMessage, Message, StatusType};

use super::{blocking, response_header, Reply};
use crate::auth::{Access, Caller};
use crate::error::ServiceError;
use crate::http_binding::Request;

/// Answer an Inbox_Message.
pub async fn receive(req: &Request, m: InboxMessage) -> Result<Reply, ServiceError> {
    if req.caller == Caller::Anonymous {
        return Err(ServiceError::Unauthorized);
    }
    let state = req.state.clone();
    let writable: Vec<String> = state
        .config
        .collections
        .iter()
        .filter(|c| state.auth.may(&req.caller, &c.name, Access::Write))
        .map(|c| c.name.clone())
        .collect();
    // TAXII 1.0 has no destination: a caller who may write exactly one collection
    // pushes there.
    let mut m = m;
    if req.version == taxii::Version::V10
        && m.destination_collections.is_empty()
        && writable.len() == 1
    {
        m.destination_collections = writable.clone();
    }
    if m.destination_collections.is_empty()
        || m.destination_collections
            .iter()
            .any(|d| !writable.contains(d))
    {
        return Err(ServiceError::DestinationCollection {
            acceptable: writable,
        });
    }

    // Check every block before storing any.
    let source = format!("inbox:{}", req.caller.name());
    let mut blocks = Vec::with_capacity(m.blocks.len());
    for (i, block) in m.blocks.into_iter().enumerate() {
        let binding = block.binding.trim().to_string();
        if !taxii::SUPPORTED_BINDINGS.contains(&binding.as_str()) {
            return Err(ServiceError::UnsupportedContent);
        }
        let text = String::from_utf8_lossy(&block.content);
        let text = text.trim_start();
        if !(text.starts_with('<') || text.starts_with("&lt;")) {
            return Err(ServiceError::BadMessage(format!(
                "content block {}: content is not XML (a STIX package is expected)",
                i + 1
            )));
        }
        let summary = stix::summarize(&block.content, &block.ns_context)
            .map_err(|e| ServiceError::BadMessage(format!("content block {}: {e}", i + 1)))?;
        // Some clients (cabby's push among them) label every block STIX 1.1.1. A package
        // that says it is 1.2 is stored as 1.2, so a client asking only for 1.1.1 gets it
        // converted instead of a 1.2 package under a 1.1.1 label.
        let binding = if binding == taxii::BINDING_STIX_111
            && summary.version.as_deref().map(str::trim) == Some("1.2")
        {
            tracing::debug!(
                block = i + 1,
                "STIX 1.2 package labelled 1.1.1: stored as 1.2"
            );
            taxii::BINDING_STIX_12.to_string()
        } else {
            binding
        };
        blocks.push(store::NewBlock {
            hash: stix::content_hash(&binding, &block.content),
            binding,
            subtypes: block.subtypes,
            content: block.content,
            ns_context: block.ns_context,
            upstream_label: block.timestamp_label,
            package_id: summary.id,
            indicators: summary.observables.len() as u32,
            source: Some(source.clone()),
            title: summary.title,
            indicator_values: stix::index_entries(&summary.observables),
        });
    }

    // TODO(server): a message naming several destinations is one store batch per
    // collection; a store failure between two of them leaves the first stored. Every
    // check that can refuse the message runs before the first write.
    let destinations = m.destination_collections.clone();
    let st = state.clone();
    let (stored, duplicates, refused) = blocking(move || {
        let (mut stored, mut duplicates, mut refused) = (0, 0, 0);
        for d in &destinations {
            // The allowlist, the values withdrawn from `d` and its profile apply to pushed
            // content as to mirrored content.
            let kept =
                st.curation(d)
                    .apply(&st.store, d, blocks.clone(), taxii::Timestamp::now())?;
            refused += kept.dropped;
            let outcome = st.store.append(d, kept.blocks, None)?;
            stored += outcome.stored;
            duplicates += outcome.duplicates;
        }
        st.store.flush()?;
        Ok((stored, duplicates, refused))
    })
    .await?;
    tracing::info!(
        user = req.caller.name(),
        collections = ?m.destination_collections,
        stored,
        duplicates,
        refused,
        "inbox stored"
    );

    let mut status = taxii::status::StatusMessage::new(&req.message_id, StatusType::Success);
    status.header = response_header(req);
    status.message = Some(if refused == 0 {
        format!("{stored} content blocks stored, {duplicates} already held")
    } else {
        format!(
            "{stored} content blocks stored, {duplicates} already held, {refused} left \
             nothing the collection keeps (allowlist, withdrawn values or profile)"
        )
    });
    Ok(Reply::Message {
        message: Box::new(Message::StatusMessage(status)),
        collection: m.destination_collections.join(","),
    })
}
