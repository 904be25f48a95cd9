//! Checkpoints: where each upstream collection was last read up to.
//!
//! Stored in store meta, namespace [`CHECKPOINT_NS`], key [`checkpoint_key`], as JSON
//! `{"end": "2024-01-02T00:00:00.000000Z", "updated": "..."}`. `end` is the upstream's last
//! `Inclusive_End_Timestamp` (TAXII) or the greatest pulse `modified` seen (REST). It is
//! written in the same atomic batch as the blocks it covers.
//!
//! Older checkpoints may be a bare timestamp, or one without a zone: both are read as UTC
//! and rewritten in the current form.

use serde::{Deserialize, Serialize};
use taxii::Timestamp;

use crate::error::MirrorError;

/// Store meta namespace of checkpoints.
pub const CHECKPOINT_NS: &str = "checkpoint";

/// Meta key of one upstream collection of one source: `<source>/<upstream collection>`.
pub fn checkpoint_key(source: &str, upstream_collection: &str) -> String {
    format!("{source}/{upstream_collection}")
}

/// Pseudo collection name keying the REST source's checkpoint.
pub const REST_CURSOR_NAME: &str = "pulses/subscribed";

/// A decoded checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Everything upstream labelled at or before this instant has been stored.
    pub end: Timestamp,
    /// When the checkpoint was written (informative).
    pub updated: Option<Timestamp>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    end: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    updated: Option<String>,
}

impl Checkpoint {
    /// A checkpoint at `end`, written now.
    pub fn at(end: Timestamp) -> Self {
        Checkpoint {
            end,
            updated: Some(Timestamp::now()),
        }
    }

    /// JSON bytes as stored.
    pub fn encode(&self) -> Vec<u8> {
        let wire = Wire {
            end: self.end.to_string(),
            updated: self.updated.map(|t| t.to_string()),
        };
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// Decode stored bytes. The flag says the value was in a legacy form (bare timestamp,
    /// or no zone) and should be rewritten.
    pub fn decode(raw: &[u8]) -> Result<(Checkpoint, bool), MirrorError> {
        let text = std::str::from_utf8(raw)
            .map_err(|_| MirrorError::Decode("checkpoint is not UTF-8".into()))?
            .trim();
        let (end_text, updated_text, mut legacy) = if text.starts_with('{') {
            let w: Wire = serde_json::from_str(text)
                .map_err(|e| MirrorError::Decode(format!("checkpoint: {e}")))?;
            (w.end, w.updated, false)
        } else if text.starts_with('"') {
            let s: String = serde_json::from_str(text)
                .map_err(|e| MirrorError::Decode(format!("checkpoint: {e}")))?;
            (s, None, true)
        } else {
            (text.to_string(), None, true)
        };
        let end = match Timestamp::parse(end_text.trim()) {
            Ok(t) => t,
            Err(_) => {
                legacy = true;
                Timestamp::parse_assume_utc(end_text.trim())
                    .map_err(|e| MirrorError::Decode(format!("checkpoint end: {e}")))?
            }
        };
        let updated = updated_text.and_then(|u| Timestamp::parse_assume_utc(&u).ok());
        Ok((Checkpoint { end, updated }, legacy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let c = Checkpoint::at(Timestamp::parse("2024-01-02T00:00:00Z").unwrap());
        let (d, legacy) = Checkpoint::decode(&c.encode()).unwrap();
        assert!(!legacy);
        assert_eq!(d.end, c.end);
        assert!(String::from_utf8(c.encode())
            .unwrap()
            .contains("\"end\":\"2024-01-02T00:00:00.000000Z\""));
    }

    #[test]
    fn legacy_forms_read_as_utc() {
        let want = Timestamp::parse("2024-01-01T00:00:00Z").unwrap();
        for raw in [
            &b"2024-01-01T00:00:00"[..],
            b"\"2024-01-01T00:00:00\"",
            b"{\"end\":\"2024-01-01T00:00:00\"}",
            b"2024-01-01T00:00:00Z",
        ] {
            let (c, legacy) = Checkpoint::decode(raw).unwrap();
            assert_eq!(c.end, want);
            assert!(legacy);
        }
        assert!(Checkpoint::decode(b"yesterday").is_err());
    }
}
