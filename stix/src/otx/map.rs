//! One pulse → one STIX 1.2 package, in the shape of OTX's TAXII output.
//!
//! Ids are derived from the pulse id and indicator ids with SHA-256, so the same pulse
//! always gives the same bytes, and a re-sent pulse dedupes by content hash.

use sha2::{Digest, Sha256};
use taxii::Timestamp;

use super::model::{OtxIndicator, Pulse};
use crate::build::{self, object_word, IndicatorSpec, PackageSpec, StixVersion};
use crate::classify::{
    address_kind_by_value, cidr_range, hash_kind_by_len, looks_like_email, normalize_cidr,
};
use crate::{ns, Indicator, IndicatorKind};

/// Prefix of every id in an OTX package; bound to [`ns::ALIENVAULT_OTX`].
pub const OTX_PREFIX: &str = "alienvault-otx";

const SOURCE_NAME: &str = "Alienvault OTX";
const SOURCE_DESCRIPTION: &str = "Alienvault OTX - https://otx.alienvault.com/";

/// A pulse as STIX, with what was left out and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulseStix {
    /// The `STIX_Package` element (UTF-8, no XML declaration).
    pub xml: Vec<u8>,
    /// The indicators in the package, in order.
    pub emitted: Vec<Indicator>,
    /// Indicators left out because their `expiration` is before `now`.
    pub skipped_expired: u32,
    /// Indicators left out because `is_active` is 0.
    pub skipped_inactive: u32,
    /// Indicators of types OTX does not put into STIX (URI, FilePath, PEHASH, IMPHASH,
    /// YARA, CVE, JA3), of unknown types, or whose value does not fit their type.
    pub not_emitted: u32,
}

/// The public page of a pulse; also the package's Short_Description.
pub fn pulse_url(pulse_id: &str) -> String {
    format!("https://otx.alienvault.com/pulse/{pulse_id}")
}

/// A UUID-formatted (version 8, RFC 9562 variant) digest of `parts`: stable ids from
/// stable inputs.
pub fn stable_uuid(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    let digest = hasher.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The indicator an OTX `(type, value)` becomes, with its address range for CIDRs;
/// `None` for types OTX does not emit or values that do not fit their type.
pub fn map_indicator(otx_type: &str, value: &str) -> Option<(Indicator, Option<(String, String)>)> {
    let value = value.trim();
    if value.is_empty() || !crate::detect::carriable(value) {
        return None;
    }
    let plain = |kind| Some((Indicator::new(kind, value), None));
    let hash =
        |kind| (hash_kind_by_len(value) == Some(kind)).then(|| (Indicator::new(kind, value), None));
    match otx_type.trim().to_ascii_lowercase().as_str() {
        "ipv4" | "ipv6" => match address_kind_by_value(value) {
            Some(kind @ (IndicatorKind::Ipv4 | IndicatorKind::Ipv6)) => plain(kind),
            _ => None,
        },
        "domain" | "hostname" if !value.chars().any(char::is_whitespace) => {
            plain(IndicatorKind::Domain)
        }
        "email" if looks_like_email(value) => plain(IndicatorKind::Email),
        "url" => plain(IndicatorKind::Url),
        "mutex" => plain(IndicatorKind::Mutex),
        "filehash-md5" => hash(IndicatorKind::Md5),
        "filehash-sha1" => hash(IndicatorKind::Sha1),
        "filehash-sha256" => hash(IndicatorKind::Sha256),
        "cidr" => {
            let cidr = normalize_cidr(value)?;
            let (first, last) = cidr_range(&cidr)?;
            Some((
                Indicator::new(IndicatorKind::Cidr, cidr),
                Some((first.to_string(), last.to_string())),
            ))
        }
        _ => None,
    }
}

/// Map one pulse. `now` decides which indicators have expired; OTX times carry no zone
/// and are read as UTC.
pub fn pulse_to_stix(pulse: &Pulse, now: Timestamp) -> PulseStix {
    let parse = |text: &str| Timestamp::parse_assume_utc(text.trim()).ok();
    let modified = parse(&pulse.modified)
        .or_else(|| parse(&pulse.created))
        .unwrap_or(now);
    let url = pulse_url(&pulse.id);

    let mut result = PulseStix {
        xml: Vec::new(),
        emitted: Vec::new(),
        skipped_expired: 0,
        skipped_inactive: 0,
        not_emitted: 0,
    };
    let mut indicators = Vec::new();
    for otx in &pulse.indicators {
        if otx.is_active == 0 {
            result.skipped_inactive += 1;
            continue;
        }
        if is_expired(otx, now) {
            result.skipped_expired += 1;
            continue;
        }
        let Some((value, cidr_range)) = map_indicator(&otx.r#type, &otx.indicator) else {
            result.not_emitted += 1;
            continue;
        };
        let created = parse(&otx.created).unwrap_or(modified);
        indicators.push(indicator_spec(
            pulse, otx, &url, created, &value, cidr_range,
        ));
        result.emitted.push(value);
    }

    let spec = PackageSpec {
        id: format!(
            "{OTX_PREFIX}:Package-{}",
            stable_uuid(&["otx-package", &pulse.id])
        ),
        id_namespace: (OTX_PREFIX.to_owned(), ns::ALIENVAULT_OTX.to_owned()),
        version: StixVersion::V12,
        timestamp: modified.to_string(),
        title: non_empty(&pulse.name),
        description: non_empty(&pulse.description),
        short_description: Some(url),
        produced_time: Some(modified.to_string()),
        source_name: Some(SOURCE_NAME.to_owned()),
        source_description: Some(SOURCE_DESCRIPTION.to_owned()),
        indicators,
    };
    result.xml = build::package(&spec);
    result
}

fn is_expired(otx: &OtxIndicator, now: Timestamp) -> bool {
    // TODO(otx): an expiration we cannot parse is treated as "no expiration".
    otx.expiration
        .as_deref()
        .and_then(|text| Timestamp::parse_assume_utc(text.trim()).ok())
        .is_some_and(|expires| expires < now)
}

fn indicator_spec(
    pulse: &Pulse,
    otx: &OtxIndicator,
    url: &str,
    created: Timestamp,
    value: &Indicator,
    cidr_range: Option<(String, String)>,
) -> IndicatorSpec {
    let key = otx.id.to_string();
    let uuid = |what: &str| stable_uuid(&[what, &pulse.id, &key]);
    IndicatorSpec {
        id: format!("{OTX_PREFIX}:indicator-{}", uuid("otx-indicator")),
        timestamp: created.to_string(),
        title: Some(format!("{} from {url}", value.value)),
        description: non_empty(&otx.description),
        observable_id: format!("{OTX_PREFIX}:Observable-{}", uuid("otx-observable")),
        object_id: format!(
            "{OTX_PREFIX}:{}-{}",
            object_word(value.kind),
            uuid("otx-object")
        ),
        observable_title: Some(format!("{} - {}", otx.r#type.trim(), value.value)),
        value: value.clone(),
        cidr_range,
        valid_until: None,
    }
}

fn non_empty(text: &str) -> Option<String> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}
