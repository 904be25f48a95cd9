//! Configuration: one TOML file, read and checked once before anything binds.
//!
//! Secrets never live in the file: users carry argon2id hashes, and upstream keys are named
//! by environment variable in the `[[source]]` tables (see the `mirror` crate). A file that
//! holds one all the same must be private ([`crate::file_access`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the store lives.
    pub data_dir: PathBuf,
    /// Base URL advertised in Discovery and Collection_Information responses,
    /// e.g. `https://taxii.corp.example`. Defaults to the HTTPS listener's address.
    #[serde(default)]
    pub public_url: Option<String>,
    pub listen: Listen,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub paths: Paths,
    #[serde(default)]
    pub admin: Admin,
    #[serde(default, rename = "user")]
    pub users: Vec<User>,
    #[serde(default, rename = "collection")]
    pub collections: Vec<Collection>,
    #[serde(default, rename = "source")]
    pub sources: Vec<mirror::SourceConfig>,
    /// Values never stored or served, in any collection.
    #[serde(default)]
    pub allowlist: AllowlistConfig,
}

/// The `[allowlist]` table: values kept out of every collection, mirrored ones included.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AllowlistConfig {
    /// Domains; each also covers its subdomains (and URLs and e-mail addresses on them).
    pub domains: Vec<String>,
    /// URL prefixes.
    pub urls: Vec<String>,
    /// IP addresses and CIDR networks.
    pub ips: Vec<String>,
    /// MD5, SHA-1 or SHA-256 digests.
    pub hashes: Vec<String>,
}

/// Listeners and certificates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// HTTPS address, e.g. `0.0.0.0:443`.
    pub https: SocketAddr,
    /// PEM certificate chain (leaf first).
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// Optional plain-HTTP listener, for labs only. Off unless set.
    #[serde(default)]
    pub http: Option<SocketAddr>,
    /// Worker threads (default: one per core).
    #[serde(default)]
    pub workers: Option<usize>,
    /// Threads per worker for store work (poll chunks, inbox appends). One by default: a
    /// poll holds it only while it reads a chunk, never while a client reads, and password
    /// checks do not hold it; more threads per worker only crowded the two cores (at 256
    /// connections the p99 latency of small polls was about three times higher with 4).
    #[serde(default = "default_store_threads")]
    pub store_threads: usize,
    /// Seconds between checks of the certificate and key files for a change (reloaded
    /// without dropping connections); 0 turns the check off (SIGHUP still reloads).
    #[serde(default = "default_cert_check_secs")]
    pub cert_check_secs: f64,
}

fn default_store_threads() -> usize {
    1
}

fn default_cert_check_secs() -> f64 {
    10.0
}

/// Protocol limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body accepted; larger gets HTTP 413 with a BAD_MESSAGE status.
    pub max_body_bytes: usize,
    /// Deepest element nesting accepted in a request, content included.
    pub max_depth: usize,
    /// Largest single text node or attribute value.
    pub max_text_bytes: usize,
    /// Content blocks per poll response part.
    pub max_blocks_per_part: usize,
    /// Bytes of content per poll response part (a single larger block still makes a part).
    pub max_bytes_per_part: usize,
    /// How long a result set can be fulfilled after its first part, in seconds.
    pub result_ttl_secs: u64,
    /// Seconds a client has to send a request's headers (HTTP 408 after).
    pub client_timeout_secs: u64,
    /// Seconds a client has to send a request's whole body, from its headers on.
    pub body_timeout_secs: u64,
    /// Seconds an idle keep-alive connection is kept open.
    pub keep_alive_secs: u64,
    /// Open connections served at once, all listeners and workers together; further
    /// connections wait in the kernel's backlog until one closes.
    pub max_connections: usize,
    /// Failed logins allowed per client address and minute; over it, the address is
    /// refused without a password check until its allowance refills (0: no limit).
    pub failed_logins_per_minute: u32,
    /// MiB the store keeps free on its disk: a write that would leave less is refused
    /// (inbox: FAILURE; mirror: the run fails and is retried) and ingest resumes by itself
    /// once space returns. 0 turns the check off.
    pub min_free_mb: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 64 * 1024 * 1024,
            max_depth: 512,
            max_text_bytes: 16 * 1024 * 1024,
            max_blocks_per_part: 1000,
            max_bytes_per_part: 8 * 1024 * 1024,
            result_ttl_secs: 3600,
            client_timeout_secs: 30,
            body_timeout_secs: 300,
            keep_alive_secs: 15,
            max_connections: 4096,
            failed_logins_per_minute: crate::auth::DEFAULT_FAILED_LOGINS_PER_MINUTE,
            min_free_mb: store::DEFAULT_MIN_FREE_BYTES / (1024 * 1024),
        }
    }
}

/// Service paths. Each is served at its path; `aliases` adds the OTX-style paths.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Paths {
    pub discovery: String,
    pub collection_management: String,
    pub poll: String,
    pub inbox: String,
    /// Also serve `/taxii/discovery`, `/taxii/collections`, `/taxii/poll` (as OTX does).
    pub otx_aliases: bool,
    /// The discovery path answers every TAXII message type, for clients that send
    /// everything to the one URL they were given.
    pub single_endpoint: bool,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            discovery: "/services/discovery".into(),
            collection_management: "/services/collection-management".into(),
            poll: "/services/poll".into(),
            inbox: "/services/inbox".into(),
            otx_aliases: true,
            single_endpoint: true,
        }
    }
}

/// The admin listener: status and poll-now, plain HTTP, loopback by default, guarded by a
/// token written to the data folder at start-up.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Admin {
    pub listen: Option<SocketAddr>,
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 9100))),
        }
    }
}

/// A TAXII user.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    /// PHC string of an argon2id hash (`taxii-mirror hash-password`).
    pub password_hash: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("password_hash", &"***")
            .finish()
    }
}

/// A served collection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Collection {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Users who may poll and subscribe.
    #[serde(default)]
    pub read: Vec<String>,
    /// Users who may push by inbox.
    #[serde(default)]
    pub write: Vec<String>,
    /// Anyone may poll without credentials.
    #[serde(default)]
    pub anonymous_read: bool,
    /// Indicators per STIX package written by `taxii-mirror import` (default 1000).
    #[serde(default)]
    pub import_package_size: Option<usize>,
    /// A named feed profile: `esa` or `all` (the default).
    #[serde(default)]
    pub profile: Option<String>,
    /// Indicator kinds kept (`domain`, `url`, `ipv4`, ...), instead of a profile's.
    #[serde(default)]
    pub kinds: Option<Vec<String>>,
    /// Indicators older than this many days are not stored.
    #[serde(default)]
    pub max_age_days: Option<u32>,
}

impl Collection {
    /// The feed profile of this collection.
    pub fn profile(&self) -> Result<stix::curate::Profile, String> {
        let mut profile = stix::curate::Profile::default();
        if let Some(name) = &self.profile {
            profile.kinds = stix::curate::Profile::named_kinds(name).ok_or_else(|| {
                format!(
                    "collection \"{}\": profile \"{name}\" is not one of esa, all",
                    self.name
                )
            })?;
        }
        if let Some(kinds) = &self.kinds {
            let mut set = std::collections::BTreeSet::new();
            for k in kinds {
                set.insert(stix::IndicatorKind::parse(k.trim()).ok_or_else(|| {
                    format!(
                        "collection \"{}\": kind \"{k}\" is not one of {}",
                        self.name,
                        stix::IndicatorKind::ALL.map(|k| k.as_str()).join(", ")
                    )
                })?);
            }
            profile.kinds = Some(set);
        }
        if let Some(days) = self.max_age_days {
            if days == 0 {
                return Err(format!(
                    "collection \"{}\": max_age_days must be at least 1",
                    self.name
                ));
            }
            profile.max_age_secs = Some(i64::from(days) * 86_400);
        }
        Ok(profile)
    }
}

impl AllowlistConfig {
    /// The allowlist, or the first entry that is not what its key says.
    pub fn build(&self) -> Result<stix::curate::Allowlist, String> {
        let mut list = stix::curate::Allowlist::new();
        let keyed = [
            ("domains", &self.domains),
            ("urls", &self.urls),
            ("ips", &self.ips),
            ("hashes", &self.hashes),
        ];
        for (key, values) in keyed {
            for v in values {
                let added = match key {
                    "domains" => list.add_domain(v),
                    "urls" => list.add_url_prefix(v),
                    "ips" => list.add_ip(v),
                    _ => list.add_hash(v),
                };
                added.map_err(|e| format!("allowlist.{key}: \"{v}\": {e}"))?;
            }
        }
        Ok(list)
    }
}

/// A configuration problem, with where it is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// Read and check a configuration file. Relative paths inside it are resolved against
    /// the file's folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        let config = Config::parse(&text, path, base)?;
        crate::file_access::check(path, &config).map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        config.check().map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: match line_of(&text, &message) {
                Some(line) => format!("line {line}: {message}"),
                None => message,
            },
        })?;
        Ok(config)
    }

    /// Parse configuration text without checking it; relative paths are resolved against
    /// `base` and errors name `origin`.
    pub fn parse(text: &str, origin: &Path, base: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_path_buf(),
            message: describe_toml_error(text, &e),
        })?;
        // Checked before relative paths are resolved: an empty `data_dir` would become the
        // configuration's own folder.
        config
            .check_blanks()
            .map_err(|blank| ConfigError::Invalid {
                path: origin.to_path_buf(),
                message: match blank.line_in(text) {
                    Some(line) => format!("line {line}: {}", blank.message),
                    None => blank.message,
                },
            })?;
        config.resolve_paths(base);
        Ok(config)
    }

    /// Every required string (names, users, upstream collections, variables, URLs, paths)
    /// must say something: an empty or blank one is refused, with where it is.
    pub fn check_blanks(&self) -> Result<(), Blank> {
        let blank = |s: &str| s.trim().is_empty();
        let opt = |s: &Option<String>| s.as_deref().is_some_and(blank);
        let path = |p: &Path| p.as_os_str().is_empty();
        let found = |table: &'static str, index: usize, key: &'static str, message: String| {
            Err(Blank {
                table,
                index,
                key,
                message,
            })
        };
        let top = |key: &'static str| Blank {
            table: "",
            index: 0,
            key,
            message: format!("{key}: must not be empty"),
        };
        if path(&self.data_dir) {
            return Err(top("data_dir"));
        }
        if opt(&self.public_url) {
            return Err(top("public_url"));
        }
        for (key, empty) in [
            ("cert", path(&self.listen.cert)),
            ("key", path(&self.listen.key)),
        ] {
            if empty {
                return found("listen", 0, key, format!("listen.{key}: must not be empty"));
            }
        }
        let p = &self.paths;
        for (key, value) in [
            ("discovery", &p.discovery),
            ("collection_management", &p.collection_management),
            ("poll", &p.poll),
            ("inbox", &p.inbox),
        ] {
            if blank(value) {
                return found("paths", 0, key, format!("paths.{key}: must not be empty"));
            }
        }
        for (i, u) in self.users.iter().enumerate() {
            if blank(&u.name) {
                return found("user", i, "name", "user.name: must not be empty".into());
            }
            if blank(&u.password_hash) {
                return found(
                    "user",
                    i,
                    "password_hash",
                    format!(
                        "user \"{}\": password_hash must not be empty (make one with \
                         `taxii-mirror hash-password`)",
                        u.name
                    ),
                );
            }
        }
        for (i, c) in self.collections.iter().enumerate() {
            if blank(&c.name) {
                return found(
                    "collection",
                    i,
                    "name",
                    "collection.name: must not be empty".into(),
                );
            }
            let lists: [(&'static str, &[String]); 3] = [
                ("read", &c.read),
                ("write", &c.write),
                ("kinds", c.kinds.as_deref().unwrap_or_default()),
            ];
            for (key, values) in lists {
                if values.iter().any(|v| blank(v)) {
                    return found(
                        "collection",
                        i,
                        key,
                        format!("collection \"{}\": {key}: an entry is empty", c.name),
                    );
                }
            }
            if opt(&c.profile) {
                return found(
                    "collection",
                    i,
                    "profile",
                    format!("collection \"{}\": profile: must not be empty", c.name),
                );
            }
        }
        for (i, src) in self.sources.iter().enumerate() {
            let named = |key: &'static str| {
                Err(Blank {
                    table: "source",
                    index: i,
                    key,
                    message: if blank(&src.name) {
                        format!("source.{key}: must not be empty")
                    } else {
                        format!("source \"{}\": {key}: must not be empty", src.name)
                    },
                })
            };
            let strings: [(&'static str, bool); 11] = [
                ("name", blank(&src.name)),
                ("collection", blank(&src.collection)),
                ("upstream_collection", opt(&src.upstream_collection)),
                ("collections", src.collections.iter().any(|c| blank(c))),
                ("username", opt(&src.username)),
                ("password_env", opt(&src.password_env)),
                ("api_key_env", opt(&src.api_key_env)),
                ("poll_url", opt(&src.poll_url)),
                ("discovery_url", opt(&src.discovery_url)),
                ("base_url", opt(&src.base_url)),
                ("proxy", opt(&src.proxy)),
            ];
            if let Some((key, _)) = strings.into_iter().find(|(_, empty)| *empty) {
                return named(key);
            }
            for (key, value) in [
                ("ca_file", &src.ca_file),
                ("client_cert", &src.client_cert),
                ("client_key", &src.client_key),
            ] {
                if value.as_deref().is_some_and(path) {
                    return named(key);
                }
            }
        }
        let a = &self.allowlist;
        for (key, values) in [
            ("domains", &a.domains),
            ("urls", &a.urls),
            ("ips", &a.ips),
            ("hashes", &a.hashes),
        ] {
            if values.iter().any(|v| blank(v)) {
                return found(
                    "allowlist",
                    0,
                    key,
                    format!("allowlist.{key}: an entry is empty"),
                );
            }
        }
        Ok(())
    }

    /// Resolve relative file paths against `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.data_dir);
        fix(&mut self.listen.cert);
        fix(&mut self.listen.key);
        for source in &mut self.sources {
            for p in [
                &mut source.ca_file,
                &mut source.client_cert,
                &mut source.client_key,
            ]
            .into_iter()
            .flatten()
            {
                fix(p);
            }
        }
    }

    /// Every consistency rule a file must meet; the message names the key.
    pub fn check(&self) -> Result<(), String> {
        self.check_blanks().map_err(|b| b.message)?;
        let secs = self.listen.cert_check_secs;
        if !secs.is_finite() || secs < 0.0 {
            return Err(format!(
                "listen.cert_check_secs: {secs} must be a number of seconds, 0 or more"
            ));
        }
        let mut users = BTreeSet::new();
        for user in &self.users {
            if !users.insert(user.name.as_str()) {
                return Err(format!("user.name: \"{}\" is declared twice", user.name));
            }
            if user.name.contains(':') || user.name.is_empty() {
                return Err(format!(
                    "user.name: \"{}\" must be non-empty and contain no ':'",
                    user.name
                ));
            }
            if argon2::PasswordHash::new(&user.password_hash).is_err() {
                return Err(format!(
                    "user \"{}\": password_hash is not a PHC hash string \
                     (make one with `taxii-mirror hash-password`)",
                    user.name
                ));
            }
        }
        let mut names = BTreeMap::new();
        for c in &self.collections {
            if c.name.is_empty() || c.name.contains('\0') {
                return Err("collection.name: must be non-empty".into());
            }
            if names.insert(c.name.as_str(), ()).is_some() {
                return Err(format!("collection.name: \"{}\" is declared twice", c.name));
            }
            if c.import_package_size == Some(0) {
                return Err(format!(
                    "collection \"{}\": import_package_size must be greater than zero",
                    c.name
                ));
            }
            c.profile()?;
            for u in c.read.iter().chain(&c.write) {
                if !users.contains(u.as_str()) {
                    return Err(format!(
                        "collection \"{}\": user \"{u}\" is not declared in a [[user]] table",
                        c.name
                    ));
                }
            }
        }
        let mut sources = BTreeSet::new();
        for s in &self.sources {
            if !sources.insert(s.name.as_str()) {
                return Err(format!("source.name: \"{}\" is declared twice", s.name));
            }
            if !names.contains_key(s.collection.as_str()) {
                return Err(format!(
                    "source \"{}\": collection \"{}\" is not declared in a [[collection]] table",
                    s.name, s.collection
                ));
            }
        }
        mirror::validate_all(&self.sources).map_err(|e| e.to_string())?;
        self.allowlist.build()?;
        let p = &self.paths;
        for (key, value) in [
            ("paths.discovery", &p.discovery),
            ("paths.collection_management", &p.collection_management),
            ("paths.poll", &p.poll),
            ("paths.inbox", &p.inbox),
        ] {
            if !value.starts_with('/') {
                return Err(format!("{key}: \"{value}\" must start with '/'"));
            }
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(format!(
                    "public_url: \"{url}\" must be an absolute http(s) URL"
                ));
            }
        }
        if self.limits.max_blocks_per_part == 0 || self.limits.max_bytes_per_part == 0 {
            return Err("limits: part sizes must be greater than zero".into());
        }
        for (key, value) in [
            ("client_timeout_secs", self.limits.client_timeout_secs),
            ("body_timeout_secs", self.limits.body_timeout_secs),
            ("max_connections", self.limits.max_connections as u64),
        ] {
            if value == 0 {
                return Err(format!("limits.{key}: must be greater than zero"));
            }
        }
        Ok(())
    }

    /// The curation of each collection: the allowlist and its profile. Call after
    /// [`Config::check`] (a bad entry then cannot occur; it would be left out).
    pub fn curations(&self) -> std::collections::HashMap<String, mirror::Curation> {
        let allowlist = std::sync::Arc::new(self.allowlist.build().unwrap_or_default());
        self.collections
            .iter()
            .map(|c| {
                let curation = mirror::Curation {
                    allowlist: allowlist.clone(),
                    profile: c.profile().unwrap_or_default(),
                };
                (c.name.clone(), curation)
            })
            .collect()
    }

    /// The base URL advertised to clients, without a trailing slash.
    pub fn advertised_base(&self, https_port: u16) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => {
                let ip = self.listen.https.ip();
                let host = if ip.is_unspecified() {
                    "localhost".to_string()
                } else if ip.is_ipv6() {
                    format!("[{ip}]")
                } else {
                    ip.to_string()
                };
                format!("https://{host}:{https_port}")
            }
        }
    }
}

/// An empty or blank required string: which key of which table, and what to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blank {
    /// `user`, `collection`, `source` (arrays of tables), `listen`, `paths`, `allowlist`,
    /// or `""` for a top-level key.
    pub table: &'static str,
    /// Which `[[table]]` of the file, from 0 (0 for the others).
    pub index: usize,
    pub key: &'static str,
    pub message: String,
}

impl Blank {
    /// The line of `text` where the key is set: in the `index`-th `[[table]]` (or the
    /// `[table]`, or before the first table), the first line assigning `key`.
    pub fn line_in(&self, text: &str) -> Option<usize> {
        let mut section = String::new();
        let mut seen = 0usize;
        for (n, line) in text.lines().enumerate() {
            let t = line.trim();
            if let Some(header) = t.strip_prefix('[') {
                let array = header.starts_with('[');
                let name = header.trim_matches(|c| c == '[' || c == ']').trim();
                section = if array {
                    seen += usize::from(name == self.table);
                    format!("[[{name}]]")
                } else {
                    name.to_string()
                };
                continue;
            }
            let here = match self.table {
                "" => section.is_empty(),
                "user" | "collection" | "source" => {
                    section == format!("[[{}]]", self.table) && seen == self.index + 1
                }
                table => section == table,
            };
            let assigns = t
                .strip_prefix(self.key)
                .is_some_and(|rest| rest.trim_start().starts_with('='));
            if here && assigns {
                return Some(n + 1);
            }
        }
        None
    }
}

/// The line of the file where a check failed: the first line holding the most specific
/// quoted value the message names (the last one quoted, e.g. an undeclared user).
fn line_of(text: &str, message: &str) -> Option<usize> {
    let quoted: Vec<&str> = message.split('"').skip(1).step_by(2).collect();
    quoted.iter().rev().find_map(|value| {
        let needle = format!("\"{value}\"");
        text.lines()
            .position(|l| l.contains(&needle))
            .map(|i| i + 1)
    })
}

/// A TOML error with its line and column.
fn describe_toml_error(text: &str, err: &toml::de::Error) -> String {
    match err.span() {
        Some(span) => {
            let line = text.as_bytes()[..span.start.min(text.len())]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            format!("line {line}: {}", err.message())
        }
        None => err.message().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        config.check()?;
        Ok(config)
    }

    const BASE: &str = r#"
        data_dir = "data"
        [listen]
        https = "127.0.0.1:0"
        cert = "server.crt"
        key = "server.key"
    "#;

    #[test]
    fn every_deploy_example_is_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
        for name in ["lab.toml", "otx.toml", "production.toml"] {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).unwrap();
            let config = Config::parse(&text, &path, &dir).unwrap();
            config.check().unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn minimal_config_has_defaults() {
        let c = parse(BASE).unwrap();
        assert_eq!(c.paths.poll, "/services/poll");
        assert!(c.paths.single_endpoint);
        assert!(c.listen.http.is_none());
        assert_eq!(c.limits.max_depth, 512);
    }

    #[test]
    fn unknown_key_is_refused_with_line() {
        let text = format!("{BASE}\nbogus = 1\n");
        let err: toml::de::Error = toml::from_str::<Config>(&text).unwrap_err();
        let described = describe_toml_error(&text, &err);
        assert!(described.contains("line 8"), "{described}");
    }

    #[test]
    fn collection_with_unknown_user_is_refused() {
        let text = format!("{BASE}\n[[collection]]\nname = \"otx\"\nread = [\"esa\"]\n");
        let err = parse(&text).unwrap_err();
        assert!(err.contains("\"esa\""), "{err}");
    }

    #[test]
    fn a_failed_check_names_its_line() {
        let text = format!("{BASE}\n[[collection]]\nname = \"otx\"\nread = [\"carol\"]\n");
        let message = parse(&text).unwrap_err();
        assert_eq!(line_of(&text, &message), Some(10), "{message}");
    }

    #[test]
    fn allowlist_and_profiles() {
        let text = format!(
            "{BASE}\n[allowlist]\ndomains = [\"partner.example\"]\nips = [\"198.51.100.0/24\"]\n\
             [[collection]]\nname = \"esa\"\nprofile = \"esa\"\nmax_age_days = 30\n\
             [[collection]]\nname = \"hashes\"\nkinds = [\"md5\", \"sha256\"]\n"
        );
        let c = parse(&text).unwrap();
        let curations = c.curations();
        let esa = &curations["esa"];
        assert_eq!(esa.profile.max_age_secs, Some(30 * 86_400));
        assert!(esa.allowlist.matches(&stix::Indicator::new(
            stix::IndicatorKind::Domain,
            "a.partner.example"
        )));
        let kinds = curations["hashes"]
            .profile
            .kinds
            .clone()
            .unwrap_or_default();
        assert_eq!(kinds.len(), 2);

        let bad = format!("{BASE}\n[allowlist]\nips = [\"10.0.0.0/40\"]\n");
        let err = parse(&bad).unwrap_err();
        assert!(err.contains("allowlist.ips"), "{err}");
        assert_eq!(line_of(&bad, &err), Some(9), "{err}");
        let bad = format!("{BASE}\n[[collection]]\nname = \"x\"\nprofile = \"qradar\"\n");
        let err = parse(&bad).unwrap_err();
        assert_eq!(line_of(&bad, &err), Some(10), "{err}");
        let bad = format!("{BASE}\n[[collection]]\nname = \"x\"\nkinds = [\"port\"]\n");
        assert!(parse(&bad).unwrap_err().contains("\"port\""));
    }

    /// The message of `Config::parse` (which finds blanks before paths are resolved).
    fn parse_error(text: &str) -> String {
        match Config::parse(text, Path::new("c.toml"), Path::new(".")) {
            Ok(_) => String::from("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn empty_and_blank_required_strings_are_refused_with_their_line() {
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2g";
        let user = format!("[[user]]\nname = \"esa\"\npassword_hash = \"{hash}\"\n");
        let source = "[[source]]\nname = \"up\"\nkind = \"taxii11\"\ncollection = \"a\"\n\
                      poll_url = \"https://up.example/poll\"\nupstream_collection = \"x\"\n";
        let good = format!(
            "{BASE}\n{user}[[collection]]\nname = \"a\"\nread = [\"esa\"]\n\
             [[collection]]\nname = \"b\"\n{source}"
        );
        assert_eq!(parse_error(&good), "accepted");
        // (what to replace, by what, the line expected, a word of the message)
        let cases = [
            (
                "name = \"b\"",
                "name = \"\"",
                15,
                "collection.name: must not be empty",
            ),
            ("name = \"b\"", "name = \"   \"", 15, "collection.name"),
            ("name = \"a\"", "name = \"\"", 12, "collection.name"),
            (
                "read = [\"esa\"]",
                "read = [\"esa\", \"\"]",
                13,
                "read: an entry is empty",
            ),
            ("name = \"esa\"", "name = \" \"", 9, "user.name"),
            ("name = \"up\"", "name = \"\"", 17, "source.name"),
            (
                "collection = \"a\"",
                "collection = \"\"",
                19,
                "source \"up\": collection",
            ),
            (
                "upstream_collection = \"x\"",
                "upstream_collection = \"\"",
                21,
                "upstream_collection",
            ),
            ("data_dir = \"data\"", "data_dir = \"\"", 2, "data_dir"),
            ("cert = \"server.crt\"", "cert = \"\"", 5, "listen.cert"),
        ];
        for (from, to, line, word) in cases {
            // Replace the last occurrence: the later table, where a name repeats.
            let at = good.rfind(from).unwrap_or_else(|| panic!("{from}"));
            let text = format!("{}{to}{}", &good[..at], &good[at + from.len()..]);
            let err = parse_error(&text);
            assert!(
                err.starts_with(&format!("c.toml: line {line}: ")),
                "{to}: {err}"
            );
            assert!(err.contains(word), "{to}: {err}");
        }
        let text = format!("{good}username = \"\"\n");
        assert!(parse_error(&text).contains("line 22: source \"up\": username"));
        let text = format!("{good}[allowlist]\ndomains = [\"\"]\n");
        assert!(parse_error(&text).contains("line 23: allowlist.domains"));
    }

    #[test]
    fn bad_password_hash_is_refused() {
        let text = format!("{BASE}\n[[user]]\nname = \"esa\"\npassword_hash = \"secret\"\n");
        let err = parse(&text).unwrap_err();
        assert!(err.contains("hash-password"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }
}
