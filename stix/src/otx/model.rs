//! DirectConnect (`/api/v1/pulses/subscribed`) JSON as Rust values.
//!
//! Reading is lenient: missing fields take defaults, unknown fields are ignored, `null`
//! stands for empty. Writing (used by the fixture generator and the fake upstream) emits
//! every field, in OTX's names.

use serde::{Deserialize, Serialize};

use super::lenient;

/// One page of subscribed pulses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Page {
    /// Total number of pulses across all pages.
    #[serde(deserialize_with = "lenient::uint")]
    pub count: u64,
    /// URL of the next page (absolute or relative), `None` on the last page.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub next: Option<String>,
    /// URL of the previous page, `None` on the first.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub previous: Option<String>,
    /// The pulses of this page.
    pub results: Vec<Pulse>,
}

/// One pulse: a titled set of indicators from one author.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pulse {
    /// 24 hex digits.
    #[serde(deserialize_with = "lenient::string")]
    pub id: String,
    /// Pulse name (becomes the package title).
    #[serde(deserialize_with = "lenient::string")]
    pub name: String,
    /// Free text.
    #[serde(deserialize_with = "lenient::string")]
    pub description: String,
    /// OTX user that published it.
    #[serde(deserialize_with = "lenient::string")]
    pub author_name: String,
    /// Zone-less UTC time, microseconds.
    #[serde(deserialize_with = "lenient::string")]
    pub created: String,
    /// Zone-less UTC time; what OTX's TAXII time filter compares against.
    #[serde(deserialize_with = "lenient::string")]
    pub modified: String,
    /// Edit counter.
    #[serde(deserialize_with = "lenient::uint")]
    pub revision: u64,
    /// Traffic Light Protocol colour (`white`, `green`, ...).
    #[serde(deserialize_with = "lenient::string")]
    pub tlp: String,
    /// 1 when public.
    #[serde(deserialize_with = "lenient::flag", default = "lenient::one")]
    pub public: i64,
    /// Named adversary, often empty.
    #[serde(deserialize_with = "lenient::string")]
    pub adversary: String,
    /// Free tags.
    #[serde(deserialize_with = "lenient::strings")]
    pub tags: Vec<String>,
    /// Country names.
    #[serde(deserialize_with = "lenient::strings")]
    pub targeted_countries: Vec<String>,
    /// Malware family names.
    #[serde(deserialize_with = "lenient::strings")]
    pub malware_families: Vec<String>,
    /// MITRE ATT&CK technique ids.
    #[serde(deserialize_with = "lenient::ids")]
    pub attack_ids: Vec<String>,
    /// Reference URLs.
    #[serde(deserialize_with = "lenient::strings")]
    pub references: Vec<String>,
    /// Industry names.
    #[serde(deserialize_with = "lenient::strings")]
    pub industries: Vec<String>,
    /// The indicators, in OTX's order.
    pub indicators: Vec<OtxIndicator>,
}

/// One OTX indicator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OtxIndicator {
    /// OTX's numeric id.
    #[serde(deserialize_with = "lenient::uint")]
    pub id: u64,
    /// The value.
    #[serde(deserialize_with = "lenient::string")]
    pub indicator: String,
    /// OTX type name (`IPv4`, `FileHash-SHA256`, ...).
    #[serde(rename = "type", deserialize_with = "lenient::string")]
    pub r#type: String,
    /// Zone-less UTC time.
    #[serde(deserialize_with = "lenient::string")]
    pub created: String,
    /// Short title, often empty.
    #[serde(deserialize_with = "lenient::string")]
    pub title: String,
    /// Free text, often empty.
    #[serde(deserialize_with = "lenient::string")]
    pub description: String,
    /// Rule text for YARA indicators, usually empty.
    #[serde(deserialize_with = "lenient::string")]
    pub content: String,
    /// Zone-less UTC time after which the indicator should no longer be used.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub expiration: Option<String>,
    /// 0 when withdrawn; sent as a number or a boolean.
    #[serde(deserialize_with = "lenient::flag", default = "lenient::one")]
    pub is_active: i64,
    /// Role such as `command_and_control`, often `null`.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub role: Option<String>,
}

impl Default for OtxIndicator {
    fn default() -> Self {
        OtxIndicator {
            id: 0,
            indicator: String::new(),
            r#type: String::new(),
            created: String::new(),
            title: String::new(),
            description: String::new(),
            content: String::new(),
            expiration: None,
            is_active: 1,
            role: None,
        }
    }
}
