//! The offline lab: an OTX-like upstream serving the fixtures over HTTPS, the mirror
//! pulling it into the local collection `otx`, and the server re-serving it, with a private
//! CA made on first run. It prints what an ESA administrator would type.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use tracing::{error, info};

use crate::app::App;
use crate::config::{Collection, Config, User};

/// The configuration the lab runs (see `deploy/lab.toml`).
const LAB_TOML: &str = include_str!("../../deploy/lab.toml");
/// The upstream's API key (its Basic user name, as on OTX).
pub const LAB_API_KEY: &str = "lab-otx-key";
/// Environment variable the lab's source reads the key from.
const LAB_API_KEY_ENV: &str = "LAB_OTX_API_KEY";
/// The upstream collection, named as OTX names them.
pub const UPSTREAM_COLLECTION: &str = "user_AlienVault";
/// Name of the lab CA.
const CA_NAME: &str = "taxii-mirror lab CA";

/// Flags of `taxii-mirror lab`.
#[derive(Args, Debug)]
pub struct LabArgs {
    /// Folder for the lab's stores, certificates and config.
    #[arg(long, default_value = "lab-data")]
    data: PathBuf,
    /// Address of the TAXII server the appliances poll.
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Password of the `esa` user (default: a random one, printed).
    #[arg(long, env = "TAXII_MIRROR_LAB_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Address of the OTX-like upstream (default: any free port on loopback).
    #[arg(long, default_value = "127.0.0.1:0")]
    upstream_listen: SocketAddr,
    /// Folder of fixtures to serve upstream (default: fixtures/otx of this source tree).
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// Extra host names for the server certificate (what ESA will connect to).
    #[arg(long = "host")]
    hosts: Vec<String>,
}

/// Run the lab until interrupted.
pub fn run(args: LabArgs) -> ExitCode {
    match actix_web::rt::System::new().block_on(run_lab(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(cause = %e, "lab failed");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_lab(args: LabArgs) -> Result<(), String> {
    let data = absolute(&args.data)?;
    std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
    let certs_dir = data.join("certs");
    let (ca_file, cert, key) = ensure_certs(&certs_dir, &args)?;
    let fixtures = fixtures_dir(args.fixtures.clone())?;

    // The OTX-like upstream, loaded with the fixtures on first run.
    let upstream = App::build(upstream_config(&data, &cert, &key, args.upstream_listen)?)
        .await
        .map_err(|e| format!("upstream: {e}"))?;
    let (st, dir) = (upstream.state.store.clone(), fixtures.clone());
    let loaded = actix_web::web::block(move || load_fixtures(&st, &dir))
        .await
        .map_err(|e| e.to_string())??;
    let upstream_addr = upstream.bound().https;
    info!(fixtures = %fixtures.display(), blocks = loaded, addr = %upstream_addr, "lab upstream loaded");

    // The mirror and the server the appliances poll.
    let password = args.password.clone().unwrap_or_else(random_password);
    let config = lab_config(&data, &args, &password, upstream_addr)?;
    let app = App::build(config).await.map_err(|e| e.to_string())?;
    let bound = app.bound();
    print_instructions(&bound.https, &password, &ca_file, &upstream_addr, &app);

    if let Some(mirror) = app.state.mirror.clone() {
        let state = app.state.clone();
        actix_web::rt::spawn(async move {
            mirror.wait_first_run().await;
            let st = state.clone();
            let blocks = actix_web::web::block(move || st.store.total("otx").unwrap_or(0))
                .await
                .unwrap_or(0);
            let failed: Vec<String> = mirror
                .status()
                .into_iter()
                .filter(|s| s.last_success.is_none())
                .map(|s| format!("{}: {}", s.name, s.last_error.unwrap_or_default()))
                .collect();
            if failed.is_empty() {
                info!(
                    collection = "otx",
                    blocks, "lab ready: first mirror run finished"
                );
            } else {
                error!(collection = "otx", blocks, failed = ?failed, "lab not ready: the first mirror run failed");
            }
        });
    }

    let (a, b) = futures_util::future::join(upstream.run(), app.run()).await;
    a.and(b).map_err(|e| e.to_string())
}

fn absolute(p: &Path) -> Result<PathBuf, String> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .map_err(|e| e.to_string())
    }
}

/// Make the lab CA and server certificate on first run; keep them afterwards.
fn ensure_certs(dir: &Path, args: &LabArgs) -> Result<(PathBuf, PathBuf, PathBuf), String> {
    let mut hosts = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let ip = args.listen.ip();
    if !ip.is_unspecified() && !ip.is_loopback() {
        hosts.push(ip.to_string());
    }
    hosts.extend(args.hosts.iter().cloned());
    let ca = dir.join("ca.crt");
    let mut new_ca = false;
    if !ca.exists() || !dir.join("ca.key").exists() {
        crate::certs::make_ca(dir, CA_NAME, true).map_err(|e| e.to_string())?;
        info!(ca = %ca.display(), "lab CA created");
        new_ca = true;
    }
    let hosts_file = dir.join("server.hosts");
    let wanted = hosts.join("\n");
    let current = std::fs::read_to_string(&hosts_file).unwrap_or_default();
    let server = dir.join("server");
    if new_ca || current != wanted || !server.with_extension("crt").exists() {
        crate::certs::make_server_cert(dir, Some(CA_NAME), &hosts, &server)
            .map_err(|e| e.to_string())?;
        std::fs::write(&hosts_file, &wanted).map_err(|e| e.to_string())?;
        info!(hosts = %hosts.join(","), "lab server certificate created");
    }
    Ok((
        ca,
        server.with_extension("crt"),
        server.with_extension("key"),
    ))
}

fn fixtures_dir(given: Option<PathBuf>) -> Result<PathBuf, String> {
    let candidates = match given {
        Some(p) => vec![p],
        None => vec![
            PathBuf::from("fixtures/otx"),
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/otx"),
        ],
    };
    candidates
        .into_iter()
        .find(|p| p.join("stix").is_dir())
        .ok_or_else(|| "no fixtures found: give --fixtures DIR (a folder with stix/*.xml)".into())
}

fn upstream_config(
    data: &Path,
    cert: &Path,
    key: &Path,
    listen: SocketAddr,
) -> Result<Config, String> {
    let text = format!(
        "data_dir = \"upstream\"\n[listen]\nhttps = \"{listen}\"\ncert = \"x\"\nkey = \"x\"\n[admin]\n"
    );
    let mut config =
        Config::parse(&text, Path::new("lab upstream"), data).map_err(|e| e.to_string())?;
    config.listen.cert = cert.to_path_buf();
    config.listen.key = key.to_path_buf();
    config.admin.listen = None;
    config.users = vec![User {
        name: LAB_API_KEY.into(),
        password_hash: crate::auth::hash_password("otx")?,
    }];
    config.collections = vec![Collection {
        name: UPSTREAM_COLLECTION.into(),
        description: Some("Data feed for user: AlienVault".into()),
        read: vec![LAB_API_KEY.into()],
        write: vec![LAB_API_KEY.into()],
        anonymous_read: false,
        import_package_size: None,
        profile: None,
        kinds: None,
        max_age_days: None,
    }];
    config.check()?;
    Ok(config)
}

fn lab_config(
    data: &Path,
    args: &LabArgs,
    password: &str,
    upstream: SocketAddr,
) -> Result<Config, String> {
    let mut config =
        Config::parse(LAB_TOML, Path::new("deploy/lab.toml"), data).map_err(|e| e.to_string())?;
    config.listen.https = args.listen;
    let hash = crate::auth::hash_password(password)?;
    for user in &mut config.users {
        if user.name == "esa" {
            user.password_hash = hash.clone();
        }
    }
    for source in &mut config.sources {
        source.base_url = Some(format!("https://{upstream}"));
    }
    // The lab's key lives only in this process's environment.
    std::env::set_var(LAB_API_KEY_ENV, LAB_API_KEY);
    config.check()?;
    Ok(config)
}

/// Store every `stix/*.xml` fixture as one STIX 1.2 block (idempotent: the store skips
/// content it already holds).
fn load_fixtures(store: &store::Store, dir: &Path) -> Result<u64, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("stix"))
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    let mut stored = 0;
    for chunk in files.chunks(100) {
        let mut blocks = Vec::with_capacity(chunk.len());
        for path in chunk {
            let content = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let summary =
                stix::summarize(&content, &[]).map_err(|e| format!("{}: {e}", path.display()))?;
            blocks.push(store::NewBlock {
                hash: stix::content_hash(taxii::BINDING_STIX_12, &content),
                binding: taxii::BINDING_STIX_12.into(),
                subtypes: Vec::new(),
                content,
                ns_context: Vec::new(),
                upstream_label: None,
                package_id: summary.id,
                indicators: summary.observables.len() as u32,
                source: Some("fixtures".into()),
                title: summary.title,
                indicator_values: stix::index_entries(&summary.observables),
            });
        }
        stored += store
            .append(UPSTREAM_COLLECTION, blocks, None)
            .map_err(|e| e.to_string())?
            .stored;
    }
    store.flush().map_err(|e| e.to_string())?;
    Ok(stored)
}

fn random_password() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..20)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

fn print_instructions(
    addr: &SocketAddr,
    password: &str,
    ca: &Path,
    upstream: &SocketAddr,
    app: &App,
) {
    let paths = &app.state.config.paths;
    let host = if addr.ip().is_unspecified() {
        "<this machine's host name>".to_string()
    } else {
        addr.ip().to_string()
    };
    crate::say!(
        "\ntaxii-mirror lab\n\
         \n\
         ESA: Mail Policies > External Threat Feeds Manager > Add Source\n\
         \x20 Hostname:            {host}\n\
         \x20 Port:                {port}\n\
         \x20 Polling Path:        {poll}\n\
         \x20 Collection Name:     otx\n\
         \x20 Use HTTPS:           yes\n\
         \x20 User name:           esa\n\
         \x20 Password:            {password}\n\
         \x20 CA certificate:      {ca}\n\
         \x20   (import it under Network > Certificates > Certificate Authorities, custom list)\n\
         \n\
         cabby:\n\
         \x20 unset REQUESTS_CA_BUNDLE CURL_CA_BUNDLE\n\
         \x20 taxii-poll --path https://{host}:{port}{poll} -c otx --username esa --password '{password}' --ca-cert {ca}\n\
         \n\
         OTX-like upstream: https://{upstream}/taxii/discovery (API key {key} as user name, password otx)\n\
         Status: taxii-mirror status --data {data}    Poll now: taxii-mirror poll-now otx --data {data}\n",
        data = app.state.config.data_dir.display(),
        port = addr.port(),
        poll = paths.poll,
        ca = ca.display(),
        key = LAB_API_KEY,
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
}
