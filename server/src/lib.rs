//! taxii-mirror: a TAXII 1.1 server over HTTPS for threat feeds kept in sled, fed by
//! mirror tasks that pull upstream feeds such as AlienVault OTX.
//!
//! # Layout
//! - [`config`]: the TOML file, read and checked once.
//! - [`file_access`]: files that hold secrets must be private.
//! - [`app`]: builds the store, listeners and mirror tasks; runs until a signal.
//! - [`http_binding`]: the TAXII HTTP binding (POST, X-TAXII headers, body limits).
//! - [`services`]: one module per TAXII service (discovery, collections, poll, inbox,
//!   subscriptions).
//! - [`results`]: multi-part poll results kept stable between fulfilments.
//! - [`auth`]: Basic auth against argon2id hashes; every collection right decided here.
//! - [`throttle`]: the per-address limit on failed logins.
//! - [`tls`]: rustls with PEM certificates; [`reload`]: the certificate swapped on SIGHUP
//!   or file change.
//! - [`admin`]: mirror status, poll-now, imports and look-ups on a loopback listener, which
//!   also serves [`health`] (`/healthz`, `/readyz`) and [`metrics`] (`/metrics`).
//! - [`lists`]: reading list files (plain, CSV) for `import`.
//! - [`import`]: storing an import in a private collection.
//! - [`lookup`]: which collections and blocks hold a value.
//! - [`certs`]: a private CA and server certificates.
//! - [`lab`]: the offline lab (an OTX-like upstream, the mirror and the server).
//! - [`backup`]: `export` and `import-backup` of a stopped server's store.
//! - [`probe`]: `healthcheck`, the container's health probe.
//! - [`cli`]: the `taxii-mirror` subcommands; [`cli_admin`]: their calls to the running
//!   server's admin listener, and what a failed call means (one line, an exit code).
#![forbid(unsafe_code)]

/// Print a line on standard output for a command's user. Unlike `println!`, a reader that
/// went away (`taxii-mirror status | head`) ends the process quietly instead of panicking.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::write_stdout_line(format_args!($($arg)*))
    };
}

pub mod admin;
pub mod app;
pub mod auth;
pub mod backup;
pub mod certs;
pub mod cli;
pub mod cli_admin;
pub mod config;
pub mod error;
pub mod file_access;
pub mod health;
pub mod http_binding;
pub mod import;
pub mod lab;
/// Reading list files, in `stix` so that the fuzz targets reach it without the server.
pub use stix::list_file as lists;
pub mod logging;
pub mod lookup;
pub mod metrics;
pub mod probe;
pub mod reload;
pub mod results;
pub mod services;
pub mod signals;
pub mod state;
pub mod throttle;
pub mod tls;
pub mod withdraw;
