//! The `taxii-mirror` command line.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigError};
use crate::logging::{self, LogFormat};

use crate::cli_admin::{self, AdminError};

/// Exit codes, in the style of BSD's sysexits.h.
pub mod exit {
    /// The command was used wrongly: a bad flag, a bad configuration file, a collection or
    /// source the server does not have.
    pub const USAGE: u8 = 64;
    /// Input data that is not valid (list lines, values).
    pub const DATA: u8 = 65;
    /// An input file or the data folder does not exist or cannot be read.
    pub const NO_INPUT: u8 = 66;
    /// The server is not running, or failed, or a mirror run failed.
    pub const UNAVAILABLE: u8 = 69;
    /// Writing the output failed.
    pub const IO: u8 = 74;
    /// The admin token cannot be read or was refused.
    pub const NO_PERM: u8 = 77;
}

/// Exit code for a configuration problem: the file cannot be read, or it is not valid.
fn config_exit(e: &ConfigError) -> ExitCode {
    ExitCode::from(match e {
        ConfigError::Read { .. } => exit::NO_INPUT,
        _ => exit::USAGE,
    })
}

#[derive(Parser)]
#[command(
    name = "taxii-mirror",
    version,
    about = "TAXII 1.1 server and threat feed mirror"
)]
struct Cli {
    /// Log format.
    #[arg(long, value_enum, default_value = "text", global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the TAXII server and the mirror tasks.
    Serve {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Check a configuration file and exit (64 when it is wrong, 66 when it cannot be read).
    CheckConfig { config: PathBuf },
    /// Read a password on standard input and print its argon2id hash for the config.
    HashPassword,
    /// Start the offline lab: an OTX-like upstream with the fixtures, the mirror and the
    /// server, with a private CA made on first run.
    Lab(crate::lab::LabArgs),
    /// Show the mirror sources and collections of a running server.
    Status {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Data folder of the running server (instead of --config).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Ask a running server to poll a source now, and follow its progress.
    PollNow {
        source: String,
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long)]
        data: Option<PathBuf>,
        /// Return at once instead of following the run.
        #[arg(long)]
        no_wait: bool,
    },
    /// Import lists of values (plain or CSV) into a private collection of the running server.
    Import {
        collection: String,
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Import the valid lines of files that have invalid ones (which are reported).
        #[arg(long)]
        skip_invalid: bool,
        /// Indicators per STIX package (default: the collection's import_package_size).
        #[arg(long)]
        package_size: Option<usize>,
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Which collections and blocks hold a domain, URL, IP, network, e-mail or hash.
    Lookup {
        #[arg(required = true)]
        values: Vec<String>,
        /// The value's type, when it is ambiguous (domain, url, ipv4, ipv6, cidr, md5, ...).
        #[arg(long = "type")]
        kind: Option<String>,
        /// Print the answer as JSON.
        #[arg(long)]
        json: bool,
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Withdraw values from a collection of the running server: every block holding one
    /// leaves later polls, and a revised block without it is appended.
    Withdraw {
        collection: String,
        #[arg(required = true)]
        values: Vec<String>,
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long)]
        data: Option<PathBuf>,
    },
    #[command(flatten)]
    Backup(crate::backup::BackupCommand),
    #[command(flatten)]
    Probe(crate::probe::ProbeCommand),
    /// Check the store of a stopped server: every block readable, labels in order, every
    /// index entry with its block (exit 1 when a problem is found).
    Verify {
        /// The data folder (`data_dir` of the config).
        data_dir: PathBuf,
        /// Also read every block's indicators again and check each is in the indicator
        /// index (parses every block: as slow as building the index).
        #[arg(long)]
        deep: bool,
    },
    /// Make a private CA (ca.crt, ca.key) in a folder.
    MakeCa {
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        #[arg(long, default_value = "taxii-mirror private CA")]
        name: String,
        /// Replace an existing CA (every certificate it signed stops verifying).
        #[arg(long)]
        force: bool,
    },
    /// Make a server certificate for host names / IPs, signed by the CA in --ca-dir.
    MakeCert {
        #[arg(long, default_value = "certs")]
        ca_dir: PathBuf,
        /// Name of the CA (default: the one recorded by make-ca in the CA folder).
        #[arg(long)]
        ca_name: Option<String>,
        /// Output path without extension: writes <out>.crt and <out>.key.
        #[arg(long, default_value = "certs/server")]
        out: PathBuf,
        /// Host names and addresses the certificate is for.
        #[arg(required = true)]
        hosts: Vec<String>,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(exit::USAGE),
            };
        }
    };
    logging::init(cli.log_format);
    match cli.command {
        Command::Serve { config } => serve(&config),
        Command::CheckConfig { config } => match check_config(&config) {
            Ok(()) => {
                crate::say!("{}: ok", config.display());
                ExitCode::SUCCESS
            }
            Err((code, e)) => {
                eprintln!("{e}");
                code
            }
        },
        Command::HashPassword => hash_password(),
        Command::Backup(cmd) => {
            let (config, data) = cmd.store_options();
            match data_dir(config, data) {
                Ok(dir) => match cmd.run(&dir) {
                    Ok(line) => {
                        crate::say!("{line}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(e.to_string()),
                },
                Err(code) => code,
            }
        }
        Command::Probe(cmd) => cmd.run(),
        Command::Lab(args) => crate::lab::run(args),
        Command::Status { config, data } => {
            let configured = config
                .as_deref()
                .and_then(|c| Config::load(c).ok())
                .map(|c| {
                    c.collections
                        .into_iter()
                        .map(|c| c.name)
                        .collect::<Vec<_>>()
                });
            match data_dir(config, data) {
                Ok(dir) => status(&dir, configured.as_deref()),
                Err(code) => code,
            }
        }
        Command::PollNow {
            source,
            config,
            data,
            no_wait,
        } => match data_dir(config, data) {
            Ok(dir) => poll_now(&dir, &source, no_wait),
            Err(code) => code,
        },
        Command::Import {
            collection,
            files,
            skip_invalid,
            package_size,
            config,
            data,
        } => match data_dir(config, data) {
            Ok(dir) => import(&dir, &collection, &files, skip_invalid, package_size),
            Err(code) => code,
        },
        Command::Lookup {
            values,
            kind,
            json,
            config,
            data,
        } => match data_dir(config, data) {
            Ok(dir) => lookup(&dir, &values, kind.as_deref(), json),
            Err(code) => code,
        },
        Command::Withdraw {
            collection,
            values,
            config,
            data,
        } => match data_dir(config, data) {
            Ok(dir) => withdraw(&dir, &collection, values),
            Err(code) => code,
        },
        Command::Verify { data_dir, deep } => verify(&data_dir, deep),
        Command::MakeCa { dir, name, force } => match crate::certs::make_ca(&dir, &name, force) {
            Ok((crt, key)) => {
                crate::say!(
                    "CA certificate: {}\nCA key:         {}",
                    crt.display(),
                    key.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(e.to_string()),
        },
        Command::MakeCert {
            ca_dir,
            ca_name,
            out,
            hosts,
        } => match crate::certs::make_server_cert(&ca_dir, ca_name.as_deref(), &hosts, &out) {
            Ok((crt, key)) => {
                crate::say!(
                    "certificate: {}\nkey:         {}\nvalid until: {}",
                    crt.display(),
                    key.display(),
                    crate::certs::server_not_after_text()
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(e.to_string()),
        },
    }
}

/// Status from the running server, or from the store when the server is stopped.
/// `configured`: the collection names of the configuration, when one was given.
fn status(data_dir: &Path, configured: Option<&[String]>) -> ExitCode {
    let running = cli_admin::request(data_dir, "GET", "/admin/status", None);
    let value: serde_json::Value = match running {
        Ok(body) => serde_json::from_str(&body).unwrap_or_default(),
        Err(e) if !e.is_not_running() => return fail_admin(&e),
        Err(admin_error) if !data_dir.join("FORMAT").exists() => {
            return fail_with(
                exit::NO_INPUT,
                format!(
                    "no taxii-mirror store at {} (and {admin_error})",
                    data_dir.display()
                ),
            )
        }
        Err(admin_error) => match store::Store::open(data_dir) {
            Ok(store) => {
                let sources = mirror::persisted_status(&store).unwrap_or_default();
                // Without a configuration, the names configured at the last start.
                let recorded = crate::state::configured_at_last_start(&store);
                let configured = configured.or(recorded.as_deref());
                let collections: Vec<serde_json::Value> = store
                    .collections()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| {
                        let mut entry = serde_json::json!({
                            "name": c,
                            "blocks": store.total(&c).unwrap_or(0),
                        });
                        if let Some(names) = configured {
                            entry["configured"] = names.contains(&c).into();
                        }
                        entry
                    })
                    .collect();
                serde_json::json!({ "running": false, "collections": collections, "sources": sources })
            }
            Err(e) => {
                return fail_with(
                    exit::UNAVAILABLE,
                    format!("{admin_error}, and the store cannot be read: {e}"),
                )
            }
        },
    };
    if value["running"] == serde_json::Value::Bool(false) {
        crate::say!("server: not running (figures from the store)");
    } else {
        crate::say!("server: running");
    }
    for c in value["collections"].as_array().into_iter().flatten() {
        let name = c["name"].as_str().unwrap_or("?");
        if c["configured"] == serde_json::Value::Bool(false) {
            crate::say!(
                "collection {name}: not configured (data kept, {} blocks)",
                c["blocks"]
            );
        } else {
            crate::say!("collection {name}: {} blocks", c["blocks"]);
        }
    }
    for s in value["sources"].as_array().into_iter().flatten() {
        crate::say!("{}", progress_line(s));
        crate::say!(
            "  last_success={} next_run={} total_blocks={} total_indicators={} duplicates={}",
            s["last_success"],
            s["next_run"],
            s["total_blocks"],
            s["total_indicators"],
            s["total_duplicates"]
        );
    }
    ExitCode::SUCCESS
}

/// Run the store's consistency check on a stopped store and print what it found.
fn verify(data_dir: &Path, deep: bool) -> ExitCode {
    if !data_dir.join("FORMAT").exists() {
        return fail(format!("no taxii-mirror store at {}", data_dir.display()));
    }
    let store = match store::Store::open(data_dir) {
        Ok(s) => s,
        Err(store::StoreError::InUse(_)) => {
            return fail(format!(
                "store at {} is in use by a running taxii-mirror: stop it first",
                data_dir.display()
            ))
        }
        Err(e) => return fail(format!("store at {}: {e}", data_dir.display())),
    };
    let checked = if deep {
        store.verify_deep(&mut |b| crate::lookup::index_values_of(b).1)
    } else {
        store.verify()
    };
    let report = match checked {
        Ok(r) => r,
        Err(e) => return fail(format!("store at {}: {e}", data_dir.display())),
    };
    for c in &report.collections {
        let label = |t: Option<taxii::Timestamp>| t.map_or("-".to_string(), |t| t.to_string());
        crate::say!(
            "collection {}: {} blocks, {} hash index entries, {} indicator index facts, labels {} .. {}",
            c.name,
            c.blocks,
            c.hash_entries,
            c.index_facts,
            label(c.first_label),
            label(c.last_label)
        );
    }
    crate::say!(
        "indicator index: {} entries{}{}",
        report.indicator_entries,
        if report.index_ready {
            ""
        } else {
            " (not built yet: blocks without facts are not problems)"
        },
        if report.deep {
            "; every block's indicators read again"
        } else {
            ""
        }
    );
    for p in &report.problems {
        crate::say!("problem: {p}");
    }
    if report.is_ok() {
        crate::say!("{}: consistent", data_dir.display());
        ExitCode::SUCCESS
    } else {
        tracing::error!(
            problems = report.problems.len(),
            store = %data_dir.display(),
            "the store is inconsistent"
        );
        crate::say!("{}: {} problems", data_dir.display(), report.problems.len());
        ExitCode::FAILURE
    }
}

/// A config is good when it parses, passes its checks and its certificate and key load.
fn check_config(path: &Path) -> Result<(), (ExitCode, String)> {
    let config = Config::load(path).map_err(|e| (config_exit(&e), e.to_string()))?;
    crate::tls::server_config(&config.listen.cert, &config.listen.key)
        .map(|_| ())
        .map_err(|e| {
            (
                ExitCode::from(exit::USAGE),
                format!("{}: {e}", path.display()),
            )
        })
}

fn fail(message: String) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

/// Print `error: message` and exit with `code`.
fn fail_with(code: u8, message: String) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}

/// A failed admin call: its one line and its exit code.
fn fail_admin(e: &AdminError) -> ExitCode {
    fail_with(e.exit_code(), e.to_string())
}

fn serve(path: &Path) -> ExitCode {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return config_exit(&e);
        }
    };
    let result = actix_web::rt::System::new().block_on(async move {
        let app = crate::app::App::build(config)
            .await
            .map_err(|e| e.to_string())?;
        app.run().await.map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(cause = %e, "cannot serve");
            ExitCode::FAILURE
        }
    }
}

fn hash_password() -> ExitCode {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        return fail(format!("cannot read standard input: {e}"));
    }
    let password = input.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return fail("empty password on standard input".into());
    }
    match crate::auth::hash_password(password) {
        Ok(hash) => {
            crate::say!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn data_dir(config: Option<PathBuf>, data: Option<PathBuf>) -> Result<PathBuf, ExitCode> {
    match (config, data) {
        (_, Some(d)) => Ok(d),
        (Some(c), None) => Config::load(&c).map(|c| c.data_dir).map_err(|e| {
            eprintln!("{e}");
            config_exit(&e)
        }),
        (None, None) => Err(fail_with(
            exit::USAGE,
            "give --config FILE or --data DIR".into(),
        )),
    }
}

/// Withdraw values through the running server and print what it did.
fn withdraw(data_dir: &Path, collection: &str, values: Vec<String>) -> ExitCode {
    // Read here as the server reads them: a bad value is named before anything is sent.
    let values = match crate::withdraw::read_values(&values) {
        Ok(v) => v,
        Err(e) => return fail_with(exit::DATA, format!("withdraw: {e}; nothing withdrawn")),
    };
    let path = format!("/admin/withdraw/{}", url_path_segment(collection));
    let body = serde_json::json!({ "values": values })
        .to_string()
        .into_bytes();
    let answer = match cli_admin::request(data_dir, "POST", &path, Some(body)) {
        Ok(a) => a,
        Err(e) => return fail_admin(&e),
    };
    let outcome: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
    let n = |k: &str| outcome[k].as_u64().unwrap_or(0);
    crate::say!(
        "{collection}: {} value(s) withdrawn; {} block(s) withdrawn from later polls, \
         {} revised block(s) appended ({} blocks read)",
        values.len(),
        n("withdrawn"),
        n("revised"),
        n("scanned")
    );
    ExitCode::SUCCESS
}

/// Trigger a source and follow it until its run ends.
fn poll_now(data_dir: &Path, source: &str, no_wait: bool) -> ExitCode {
    let path = format!("/admin/poll-now/{}", url_path_segment(source));
    if let Err(e) = cli_admin::request(data_dir, "POST", &path, None) {
        return fail_admin(&e);
    }
    crate::say!("poll of {source} triggered");
    if no_wait {
        return ExitCode::SUCCESS;
    }
    let mut seen_running = false;
    let started = std::time::Instant::now();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let body = match cli_admin::request(data_dir, "GET", "/admin/status", None) {
            Ok(b) => b,
            Err(e) => return fail_admin(&e),
        };
        let value: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let entry = value["sources"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["name"] == source).cloned());
        let Some(entry) = entry else {
            return fail_with(
                exit::UNAVAILABLE,
                format!("source {source} is not in the server's status"),
            );
        };
        let state = entry["state"].as_str().unwrap_or("").to_string();
        if state == "running" {
            seen_running = true;
            crate::say!("{}", progress_line(&entry));
        } else if seen_running || started.elapsed().as_secs() > 5 {
            crate::say!("{}", progress_line(&entry));
            return if entry["last_error"].is_null() || state == "idle" {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(exit::UNAVAILABLE)
            };
        }
    }
}

fn progress_line(entry: &serde_json::Value) -> String {
    let get = |k: &str| match &entry[k] {
        serde_json::Value::Null => "-".to_string(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    format!(
        "{}: state={} windows={}/{} last_run_blocks={} last_run_indicators={} last_error={}",
        get("name"),
        get("state"),
        entry["backfill"]["windows_done"],
        entry["backfill"]["windows_total"],
        get("last_run_blocks"),
        get("last_run_indicators"),
        get("last_error"),
    )
}

/// Exit code for input data that is not valid.
const EXIT_DATA: u8 = exit::DATA;
/// Invalid lines listed one by one at most; the rest are counted.
const MAX_LISTED_ERRORS: usize = 50;

/// Read and check list files, then send their values to the running server.
fn import(
    data_dir: &Path,
    collection: &str,
    files: &[PathBuf],
    skip_invalid: bool,
    package_size: Option<usize>,
) -> ExitCode {
    if package_size == Some(0) {
        return fail_with(
            exit::USAGE,
            "--package-size must be greater than zero".into(),
        );
    }
    let now = taxii::Timestamp::now();
    let mut entries = Vec::new();
    let (mut rejected, mut expired, mut listed) = (0usize, 0usize, 0usize);
    let mut invalid_files = Vec::new();
    for path in files {
        let file = match crate::lists::read_file(path, now) {
            Ok(f) => f,
            // A file that cannot be opened is missing input; one that is not text, bad data.
            Err(e) if std::fs::File::open(path).is_err() => return fail_with(exit::NO_INPUT, e),
            Err(e) => return fail_with(exit::DATA, e),
        };
        for e in &file.errors {
            if listed < MAX_LISTED_ERRORS {
                eprintln!("{}:{}: {}", path.display(), e.line, e.message);
                listed += 1;
            }
        }
        rejected += file.errors.len();
        expired += file.expired.len();
        if !file.errors.is_empty() {
            invalid_files.push(path.display().to_string());
        }
        entries.extend(file.values.into_iter().map(|v| crate::import::ImportEntry {
            kind: v.indicator.kind.to_string(),
            value: v.indicator.value,
            description: v.description,
            valid_until: v.valid_until.map(|t| t.to_string()),
        }));
    }
    if rejected > listed {
        eprintln!("... and {} more invalid lines", rejected - listed);
    }
    if rejected > 0 && !skip_invalid {
        eprintln!(
            "error: nothing imported: {rejected} invalid line{} in {} \
             (fix them, or pass --skip-invalid to import the valid lines)",
            if rejected == 1 { "" } else { "s" },
            invalid_files.join(", ")
        );
        return ExitCode::from(EXIT_DATA);
    }
    let name = files
        .iter()
        .map(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string())
        })
        .collect::<Vec<_>>()
        .join(", ");
    let request = crate::import::ImportRequest {
        name,
        package_size,
        entries,
    };
    let body = match serde_json::to_vec(&request) {
        Ok(b) => b,
        Err(e) => return fail(format!("cannot encode the import: {e}")),
    };
    let path = format!("/admin/import/{}", url_path_segment(collection));
    let reply: crate::import::ImportReply =
        match cli_admin::request(data_dir, "POST", &path, Some(body)) {
            Ok(text) => match serde_json::from_str(&text) {
                Ok(r) => r,
                Err(e) => {
                    return fail_with(
                        exit::UNAVAILABLE,
                        format!("unexpected answer from the server: {e}"),
                    )
                }
            },
            Err(e @ cli_admin::AdminError::NoAnswer(_)) => {
                // The import is one batch: it is stored whole or not at all.
                return fail_with(
                    e.exit_code(),
                    format!(
                        "{e}: the import may have been stored or not; run the same import \
                         again (values the collection already holds are skipped)"
                    ),
                );
            }
            Err(e) => return fail_with(e.exit_code(), format!("nothing imported: {e}")),
        };
    let kinds: Vec<String> = reply
        .added_by_kind
        .iter()
        .map(|(k, n)| format!("{k}={n}"))
        .collect();
    crate::say!(
        "{}: added {}, skipped {} (already held), refused {} (allowlist, withdrawn or \
         profile), rejected {}, expired {}; {} package{}{}",
        reply.collection,
        reply.added,
        reply.skipped,
        reply.refused,
        rejected,
        expired,
        reply.packages.len(),
        if reply.packages.len() == 1 { "" } else { "s" },
        if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({})", kinds.join(" "))
        }
    );
    ExitCode::SUCCESS
}

/// Percent-encode a path segment (collection names may hold any character).
fn url_path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Look values up in the running server, or in the store when the server is stopped.
fn lookup(data_dir: &Path, values: &[String], kind: Option<&str>, as_json: bool) -> ExitCode {
    let mut offline: Option<store::Store> = None;
    let mut code = ExitCode::SUCCESS;
    for value in values {
        // Refused here as the server would refuse it, rather than as a request too large
        // to send.
        if value.trim().len() > stix::detect::MAX_VALUE {
            let head: String = value.trim().chars().take(40).collect();
            eprintln!(
                "error: {head:?}...: longer than {} bytes",
                stix::detect::MAX_VALUE
            );
            code = ExitCode::from(EXIT_DATA);
            continue;
        }
        let mut path = format!("/admin/lookup?value={}", url_path_segment(value));
        if let Some(k) = kind {
            path.push_str(&format!("&kind={}", url_path_segment(k)));
        }
        let answer = match &offline {
            None => cli_admin::request(data_dir, "GET", &path, None),
            Some(_) => Ok(String::new()),
        };
        let reply = match (&offline, answer) {
            (None, Ok(text)) => match serde_json::from_str::<crate::lookup::LookupReply>(&text) {
                Ok(r) => Ok(r),
                Err(e) => {
                    return fail_with(
                        exit::UNAVAILABLE,
                        format!("unexpected answer from the server: {e}"),
                    )
                }
            },
            // A value the server cannot read: reported, and the next one is looked up.
            (None, Err(e @ AdminError::Refused { status: 400, .. })) => Err(e.to_string()),
            (None, Err(e)) if !e.is_not_running() => return fail_admin(&e),
            (None, Err(admin_error)) => {
                if !data_dir.join("FORMAT").exists() {
                    return fail_with(
                        exit::NO_INPUT,
                        format!(
                            "no taxii-mirror store at {} (and {admin_error})",
                            data_dir.display()
                        ),
                    );
                }
                match store::Store::open(data_dir) {
                    Ok(s) => {
                        let reply =
                            crate::lookup::lookup(&s, value, kind).map_err(|e| e.to_string());
                        offline = Some(s);
                        reply
                    }
                    Err(e) => {
                        return fail_with(
                            exit::UNAVAILABLE,
                            format!("{admin_error}, and the store cannot be read: {e}"),
                        )
                    }
                }
            }
            (Some(s), _) => crate::lookup::lookup(s, value, kind).map_err(|e| e.to_string()),
        };
        match reply {
            Ok(r) if as_json => crate::say!("{}", serde_json::to_string(&r).unwrap_or_default()),
            Ok(r) => crate::lookup::print(&r),
            Err(e) => {
                eprintln!("error: {e}");
                code = ExitCode::from(EXIT_DATA);
            }
        }
    }
    code
}

/// Write one line on standard output; when the reader has gone (a closed pipe), exit at
/// once with success, as command-line tools do, rather than panic.
pub fn write_stdout_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to standard output: {e}");
        std::process::exit(i32::from(exit::IO));
    }
}
