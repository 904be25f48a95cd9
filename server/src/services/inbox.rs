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
    let total = blocks.len() as u64;
    let st = state.clone();
    let outcomes = blocking(move || {
        let mut outcomes = Vec::with_capacity(destinations.len());
        for d in &destinations {
            // The allowlist, the values withdrawn from `d` and its profile apply to pushed
            // content as to mirrored content.
            let curation = st.curation(d);
            let kept = curation.apply(&st.store, d, blocks.clone(), taxii::Timestamp::now())?;
            let appended = st.store.append(d, kept.blocks, None)?;
            outcomes.push(Outcome {
                collection: d.clone(),
                total,
                stored: appended.stored,
                duplicates: appended.duplicates,
                refused: kept.dropped_by,
                profile: curation.profile,
            });
        }
        st.store.flush()?;
        Ok(outcomes)
    })
    .await?;
    let sum = |f: fn(&Outcome) -> u64| outcomes.iter().map(f).sum::<u64>();
    let (stored, duplicates, refused) = (
        sum(|o| o.stored),
        sum(|o| o.duplicates),
        sum(|o| o.refused_total()),
    );
    let text = outcomes
        .iter()
        .map(Outcome::describe)
        .collect::<Vec<_>>()
        .join(". ");
    // Nothing stored and nothing already held: every block was refused, and the client
    // must not take the push for a success.
    let everything_refused = refused > 0 && stored == 0 && duplicates == 0;
    if everything_refused {
        tracing::warn!(
            user = req.caller.name(),
            collections = ?m.destination_collections,
            refused,
            cause = %text,
            "inbox refused: nothing stored"
        );
    } else {
        tracing::info!(
            user = req.caller.name(),
            collections = ?m.destination_collections,
            stored,
            duplicates,
            refused,
            "inbox stored"
        );
    }

    let status_type = if everything_refused {
        StatusType::Failure
    } else {
        StatusType::Success
    };
    let mut status = taxii::status::StatusMessage::new(&req.message_id, status_type);
    status.header = response_header(req);
    status.message = Some(text);
    Ok(Reply::Message {
        message: Box::new(Message::StatusMessage(status)),
        collection: m.destination_collections.join(","),
    })
}

/// What a push did to one destination collection.
struct Outcome {
    collection: String,
    /// Content blocks in the message.
    total: u64,
    stored: u64,
    /// Blocks the collection already held.
    duplicates: u64,
    /// Blocks refused, by cause.
    refused: mirror::Dropped,
    profile: stix::curate::Profile,
}

impl Outcome {
    fn refused_total(&self) -> u64 {
        let r = &self.refused;
        r.listed + r.kind + r.age + r.unreadable
    }

    /// One sentence for the Status_Message: counts, and why blocks were refused.
    fn describe(&self) -> String {
        let mut text = format!(
            "{} of {} content blocks stored in collection \"{}\"",
            self.stored, self.total, self.collection
        );
        if self.duplicates > 0 {
            text.push_str(&format!(", {} already held", self.duplicates));
        }
        let refused = self.refused_total();
        if refused == 0 {
            return text;
        }
        let r = &self.refused;
        let mut why = Vec::new();
        if r.listed > 0 {
            why.push(format!(
                "{} by the allowlist or values withdrawn from the collection",
                r.listed
            ));
        }
        if r.kind > 0 {
            let kinds = self
                .profile
                .kinds
                .iter()
                .flatten()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            why.push(format!(
                "{} by its profile: no indicator of a kind it keeps ({kinds})",
                r.kind
            ));
        }
        if r.age > 0 {
            let days = self.profile.max_age_secs.unwrap_or(0) / 86_400;
            why.push(format!(
                "{} by its profile: older than max_age_days = {days}",
                r.age
            ));
        }
        if r.unreadable > 0 {
            why.push(format!("{} unreadable", r.unreadable));
        }
        text.push_str(&format!(", {refused} refused ({})", why.join("; ")));
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(stored: u64, duplicates: u64, refused: mirror::Dropped) -> Outcome {
        Outcome {
            collection: "esafeed".into(),
            total: 3,
            stored,
            duplicates,
            refused,
            profile: stix::curate::Profile {
                kinds: stix::curate::Profile::named_kinds("esa").flatten(),
                max_age_secs: Some(30 * 86_400),
            },
        }
    }

    #[test]
    fn the_answer_counts_and_explains_refusals() {
        let all = outcome(
            0,
            0,
            mirror::Dropped {
                kind: 2,
                age: 1,
                ..Default::default()
            },
        );
        assert_eq!(
            all.describe(),
            "0 of 3 content blocks stored in collection \"esafeed\", 3 refused (2 by its \
             profile: no indicator of a kind it keeps (ipv4, domain, url, md5, sha256); 1 by \
             its profile: older than max_age_days = 30)"
        );
        let some = outcome(
            1,
            1,
            mirror::Dropped {
                listed: 1,
                ..Default::default()
            },
        );
        assert_eq!(
            some.describe(),
            "1 of 3 content blocks stored in collection \"esafeed\", 1 already held, 1 refused \
             (1 by the allowlist or values withdrawn from the collection)"
        );
        assert_eq!(
            outcome(3, 0, mirror::Dropped::default()).describe(),
            "3 of 3 content blocks stored in collection \"esafeed\""
        );
    }
}
