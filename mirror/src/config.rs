//! `[[source]]` tables of the server's TOML configuration, and their checks.
//!
//! Durations are fractional seconds (`0.05` is 50 ms) so that tests and labs can run fast
//! with the very same code paths as production.
//!
//! Secrets: an upstream password or API key is named by the environment variable that holds
//! it (`password_env`, `api_key_env`). A literal `password` is accepted only because OTX's
//! TAXII service ignores the password and some tools insist on one (`"foo"`): it is meant for
//! such dummy values, is still wrapped in [`Secret`] and is never logged.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use crate::error::ConfigError;

/// Default OTX base URL; tests and labs point `base_url` at a local server instead.
pub const OTX_BASE_URL: &str = "https://otx.alienvault.com";
/// Environment variable read for the OTX API key when `api_key_env` is not set.
pub const OTX_API_KEY_ENV: &str = "OTX_API_KEY";

/// A secret string (API key, password). Its `Debug` and `Display` print `***`, so a secret
/// cannot leak through a log line or a `{:?}` of a config.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Which protocol a source speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SourceKind {
    /// Any TAXII 1.1 poll service.
    #[serde(rename = "taxii11")]
    Taxii11,
    /// AlienVault OTX over TAXII 1.1: API key as Basic user name, `user_<name>` collections.
    #[serde(rename = "otx")]
    Otx,
    /// AlienVault OTX DirectConnect REST API (`/api/v1/pulses/subscribed`).
    #[serde(rename = "otx-rest")]
    OtxRest,
}

impl SourceKind {
    /// The name used in configuration files and status output.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Taxii11 => "taxii11",
            SourceKind::Otx => "otx",
            SourceKind::OtxRest => "otx-rest",
        }
    }
}

/// One upstream source mirrored into one local collection (a `[[source]]` table).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Unique name; appears in logs, status, checkpoints and as each block's `source`.
    pub name: String,
    /// Protocol of the upstream.
    pub kind: SourceKind,
    /// Local collection the blocks go into (created if missing).
    pub collection: String,
    /// A disabled source keeps its status and checkpoints but sends nothing.
    #[serde(default = "default_true")]
    pub enabled: bool,

    // --- taxii11 (and otx, which presets most of these) ---
    /// Absolute URL of the upstream TAXII 1.1 poll service.
    #[serde(default)]
    pub poll_url: Option<String>,
    /// Discovery URL: the poll service it lists is used (HTTPS and XML 1.1 preferred).
    #[serde(default)]
    pub discovery_url: Option<String>,
    /// Upstream collection name (taxii11). `collections` may list several instead.
    #[serde(default)]
    pub upstream_collection: Option<String>,
    /// Basic auth user name (taxii11; for otx the API key is the user name).
    #[serde(default)]
    pub username: Option<String>,
    /// Environment variable holding the Basic auth password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Literal password, for non-secret dummy values only (OTX ignores the password).
    #[serde(default)]
    pub password: Option<Secret>,
    /// PEM client certificate chain for mutual TLS (needs `client_key`).
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// PEM bundle of CA certificates; when set, only these are trusted.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// With `ca_file`, also trust the built-in (Mozilla) root set.
    #[serde(default)]
    pub ca_include_system: bool,
    /// HTTP(S) proxy URL. Without it no proxy is used (environment variables are ignored).
    #[serde(default)]
    pub proxy: Option<String>,
    /// TCP + TLS connect timeout.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: f64,
    /// Whole-request timeout (headers and body).
    #[serde(default = "default_timeout")]
    pub timeout_secs: f64,

    // --- otx and otx-rest ---
    /// Environment variable holding the OTX API key (default `OTX_API_KEY`).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Upstream collections to mirror, each with its own checkpoint, e.g.
    /// `["user_AlienVault"]` (otx; taxii11 may use it instead of `upstream_collection`).
    #[serde(default)]
    pub collections: Vec<String>,
    /// OTX base URL (default `https://otx.alienvault.com`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Pulses per REST page (otx-rest).
    #[serde(default = "default_page_limit")]
    pub page_limit: u32,

    // --- common ---
    /// Time between successful runs.
    #[serde(default = "default_interval")]
    pub interval_secs: f64,
    /// How far back the first run reaches.
    #[serde(default = "default_backfill_days")]
    pub backfill_days: f64,
    /// Span of one poll window (back-fill and catch-up are split into windows).
    #[serde(default = "default_window_days")]
    pub window_days: f64,
    /// Smallest window a failing window is split down to.
    #[serde(default = "default_min_window")]
    pub min_window_secs: f64,
    /// Most result parts (or REST pages) followed for one window.
    #[serde(default = "default_max_parts")]
    pub max_parts: u64,
    /// Largest upstream response body read; larger fails the window (which is then split).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: u64,
    /// Replace invalid UTF-8 with U+FFFD instead of failing the poll.
    #[serde(default)]
    pub lenient_decoding: bool,
    /// First retry delay after a transient fault.
    #[serde(default = "default_backoff_initial")]
    pub backoff_initial_secs: f64,
    /// Retry delay cap.
    #[serde(default = "default_backoff_max")]
    pub backoff_max_secs: f64,
    /// Poll only up to `now - end_lag` (for upstreams that label late).
    #[serde(default)]
    pub end_lag_secs: f64,
    /// Allowlist and profile of the local collection (from the server's configuration, not
    /// from the `[[source]]` table).
    #[serde(skip)]
    pub curation: crate::Curation,
}

fn default_true() -> bool {
    true
}
fn default_connect_timeout() -> f64 {
    30.0
}
fn default_timeout() -> f64 {
    600.0
}
fn default_page_limit() -> u32 {
    50
}
fn default_interval() -> f64 {
    3600.0
}
fn default_backfill_days() -> f64 {
    30.0
}
fn default_window_days() -> f64 {
    1.0
}
fn default_min_window() -> f64 {
    3600.0
}
fn default_max_parts() -> u64 {
    10_000
}
fn default_max_body() -> u64 {
    256 * 1024 * 1024
}
fn default_backoff_initial() -> f64 {
    30.0
}
fn default_backoff_max() -> f64 {
    900.0
}

impl SourceConfig {
    /// A source with every default, for code (and tests) that build configs by hand.
    pub fn new(name: &str, kind: SourceKind, collection: &str) -> Self {
        SourceConfig {
            name: name.to_string(),
            kind,
            collection: collection.to_string(),
            enabled: true,
            poll_url: None,
            discovery_url: None,
            upstream_collection: None,
            username: None,
            password_env: None,
            password: None,
            client_cert: None,
            client_key: None,
            ca_file: None,
            ca_include_system: false,
            proxy: None,
            connect_timeout_secs: default_connect_timeout(),
            timeout_secs: default_timeout(),
            api_key_env: None,
            collections: Vec::new(),
            base_url: None,
            page_limit: default_page_limit(),
            interval_secs: default_interval(),
            backfill_days: default_backfill_days(),
            window_days: default_window_days(),
            min_window_secs: default_min_window(),
            max_parts: default_max_parts(),
            max_body_bytes: default_max_body(),
            lenient_decoding: false,
            backoff_initial_secs: default_backoff_initial(),
            backoff_max_secs: default_backoff_max(),
            end_lag_secs: 0.0,
            curation: crate::Curation::default(),
        }
    }

    /// The environment variable read for the OTX API key.
    pub fn api_key_var(&self) -> &str {
        self.api_key_env.as_deref().unwrap_or(OTX_API_KEY_ENV)
    }

    /// The OTX base URL in effect.
    pub fn otx_base(&self) -> &str {
        self.base_url
            .as_deref()
            .unwrap_or(OTX_BASE_URL)
            .trim_end_matches('/')
    }

    /// Upstream collections this source mirrors, each with its own checkpoint.
    pub fn upstream_collections(&self) -> Vec<String> {
        let mut out: Vec<String> = self.upstream_collection.iter().cloned().collect();
        for c in &self.collections {
            if !out.contains(c) {
                out.push(c.clone());
            }
        }
        out
    }

    /// Check the table without touching the network or the environment: what is wrong and
    /// where, so `check-config` can say it before anything binds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field: &str, why: &str| ConfigError::Invalid {
            name: self.name.clone(),
            field: field.to_string(),
            reason: why.to_string(),
        };
        if self.name.trim().is_empty() || self.name.contains('/') {
            return Err(bad("name", "must be non-empty and contain no '/'"));
        }
        if self.collection.trim().is_empty() || self.collection.contains('\0') {
            return Err(bad("collection", "must be a non-empty name without NUL"));
        }
        if self
            .upstream_collections()
            .iter()
            .any(|c| c.trim().is_empty())
        {
            return Err(bad(
                "upstream_collection",
                "an upstream collection name is empty",
            ));
        }
        self.validate_numbers()?;
        match self.kind {
            SourceKind::Taxii11 => {
                match (&self.poll_url, &self.discovery_url) {
                    (None, None) => {
                        return Err(bad("poll_url", "poll_url or discovery_url needed"))
                    }
                    (Some(_), Some(_)) => {
                        return Err(bad(
                            "discovery_url",
                            "give poll_url or discovery_url, not both",
                        ))
                    }
                    _ => {}
                }
                for (field, url) in [
                    ("poll_url", &self.poll_url),
                    ("discovery_url", &self.discovery_url),
                ] {
                    if let Some(u) = url {
                        check_http_url(u).map_err(|why| bad(field, &why))?;
                    }
                }
                if self.upstream_collections().is_empty() {
                    return Err(bad("upstream_collection", "name the upstream collection"));
                }
                if self.password.is_some() && self.password_env.is_some() {
                    return Err(bad("password", "give password_env or password, not both"));
                }
                if self.username.is_none()
                    && (self.password.is_some() || self.password_env.is_some())
                {
                    return Err(bad("username", "a password needs a username"));
                }
            }
            SourceKind::Otx => {
                if self.collections.is_empty() && self.upstream_collection.is_none() {
                    return Err(bad(
                        "collections",
                        "list the user_<name> collections to mirror",
                    ));
                }
                if self.username.is_some() {
                    return Err(bad("username", "otx uses the API key as user name"));
                }
                check_http_url(self.otx_base()).map_err(|why| bad("base_url", &why))?;
                if let Some(u) = &self.poll_url {
                    check_http_url(u).map_err(|why| bad("poll_url", &why))?;
                }
            }
            SourceKind::OtxRest => {
                check_http_url(self.otx_base()).map_err(|why| bad("base_url", &why))?;
                if self.page_limit == 0 {
                    return Err(bad("page_limit", "must be at least 1"));
                }
            }
        }
        if self.client_cert.is_some() != self.client_key.is_some() {
            return Err(bad("client_key", "client_cert and client_key go together"));
        }
        if let Some(p) = &self.proxy {
            check_http_url(p).map_err(|why| bad("proxy", &why))?;
        }
        Ok(())
    }

    fn validate_numbers(&self) -> Result<(), ConfigError> {
        let checks: [(&str, f64, f64); 9] = [
            ("interval_secs", self.interval_secs, 0.001),
            ("backfill_days", self.backfill_days, 0.0),
            ("window_days", self.window_days, 1e-9),
            ("min_window_secs", self.min_window_secs, 0.001),
            ("backoff_initial_secs", self.backoff_initial_secs, 0.0),
            ("backoff_max_secs", self.backoff_max_secs, 0.0),
            ("end_lag_secs", self.end_lag_secs, 0.0),
            ("connect_timeout_secs", self.connect_timeout_secs, 0.001),
            ("timeout_secs", self.timeout_secs, 0.001),
        ];
        for (field, value, min) in checks {
            // A century bounds every duration so later arithmetic cannot overflow.
            if !value.is_finite() || value < min || value > 3.2e9 {
                return Err(ConfigError::Invalid {
                    name: self.name.clone(),
                    field: field.to_string(),
                    reason: format!("{value} is out of range (at least {min}, at most a century)"),
                });
            }
        }
        if self.max_parts == 0 || self.max_body_bytes == 0 {
            return Err(ConfigError::Invalid {
                name: self.name.clone(),
                field: "max_parts".into(),
                reason: "max_parts and max_body_bytes must be positive".into(),
            });
        }
        Ok(())
    }
}

/// An absolute http(s) URL with a host.
fn check_http_url(u: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(u).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("scheme {} is not http or https", url.scheme()));
    }
    if url.host_str().is_none() {
        return Err("URL has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials do not belong in the URL".into());
    }
    Ok(())
}

/// Check a whole list: each table valid and names unique.
pub fn validate_all(sources: &[SourceConfig]) -> Result<(), ConfigError> {
    let mut seen = std::collections::BTreeSet::new();
    for s in sources {
        s.validate()?;
        if !seen.insert(s.name.as_str()) {
            return Err(ConfigError::DuplicateName(s.name.clone()));
        }
    }
    Ok(())
}
