//! Who else can read the files that hold secrets.
//!
//! The configuration normally holds no secret: users carry argon2id hashes (costly to
//! reverse, and what a hash is for), upstream passwords and API keys come from environment
//! variables. Two things in it are secrets all the same, and make the file private:
//! - a literal `password` of a `taxii11` source (OTX ignores the password, so a literal one
//!   on an `otx` or `otx-rest` source is a dummy value);
//! - a `proxy` URL with a password in it (`http://user:password@proxy:3128`).
//!
//! A configuration holding one is refused when its group or other users may read it.
//! (Private keys have their own, stricter check where they are loaded: see `tls`.)

use std::path::Path;

use crate::config::Config;

/// What in `config` is a secret, named for an error message; empty when nothing is.
pub fn secrets_in(config: &Config) -> Vec<String> {
    let mut found = Vec::new();
    for source in &config.sources {
        if source.kind == mirror::SourceKind::Taxii11 && source.password.is_some() {
            found.push(format!(
                "the literal password of source \"{}\"",
                source.name
            ));
        }
        if source.proxy.as_deref().is_some_and(url_has_password) {
            found.push(format!("the proxy password of source \"{}\"", source.name));
        }
    }
    found
}

/// Whether a URL carries `user:password@` before its host.
fn url_has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// Refuse a configuration file that holds a secret and that group or others may read.
pub fn check(path: &Path, config: &Config) -> Result<(), String> {
    let secrets = secrets_in(config);
    if !secrets.is_empty() {
        if let Some(mode) = mode_of(path)? {
            if mode & 0o044 != 0 {
                return Err(format!(
                    "{} holds {} but its group or other users may read it (mode {:o}): \
                     run `chmod 600 {}`, or name the secret with password_env instead",
                    path.display(),
                    secrets.join(" and "),
                    mode & 0o777,
                    path.display()
                ));
            }
        }
    }
    Ok(())
}

/// The permission bits of a file; `None` where there are none (not Unix) or the file is
/// missing (loading it reports that, with a better message).
#[cfg(unix)]
fn mode_of(path: &Path) -> Result<Option<u32>, String> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(m.permissions().mode())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

#[cfg(not(unix))]
fn mode_of(_path: &Path) -> Result<Option<u32>, String> {
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_passwords_are_found() {
        assert!(url_has_password("http://u:p@proxy:3128"));
        assert!(url_has_password("https://u:p@proxy"));
        assert!(url_has_password("http://u:p%40x@proxy:3128/"));
        assert!(!url_has_password("http://u@proxy:3128"));
        assert!(!url_has_password("http://proxy:3128"));
        assert!(!url_has_password("http://proxy:3128/a:b@c"));
    }

    #[cfg(unix)]
    #[test]
    fn a_readable_file_with_a_secret_is_refused_and_a_private_one_loads() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("file-access-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("server.key");
        std::fs::write(&key, "not read here").unwrap();
        let chmod = |p: &Path, mode: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
        };
        chmod(&key, 0o600);
        let base = r#"
            data_dir = "data"
            [listen]
            https = "127.0.0.1:0"
            cert = "server.crt"
            key = "server.key"
            [[collection]]
            name = "c"
        "#;
        let source = r#"
            [[source]]
            name = "partner"
            kind = "taxii11"
            collection = "c"
            poll_url = "https://feed.example.test/poll"
            upstream_collection = "x"
            username = "me"
        "#;
        let write = |name: &str, text: &str, mode: u32| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            chmod(&path, mode);
            path
        };
        let load = |path: &Path| Config::load(path).map(|_| ()).map_err(|e| e.to_string());

        // No secret: any mode will do.
        load(&write("plain.toml", base, 0o644)).unwrap();
        let with_password = format!("{base}{source}password = \"s3cret-in-file\"\n");
        let err = load(&write("secret.toml", &with_password, 0o644)).unwrap_err();
        assert!(
            err.contains("literal password of source \"partner\""),
            "{err}"
        );
        assert!(err.contains("chmod 600"), "{err}");
        assert!(
            !err.contains("s3cret-in-file"),
            "the error shows the secret: {err}"
        );
        load(&write("secret.toml", &with_password, 0o640)).unwrap_err();
        load(&write("secret.toml", &with_password, 0o600)).unwrap();
        let with_proxy = format!("{base}{source}proxy = \"http://u:pw@proxy.example.test:3128\"\n");
        let err = load(&write("proxy.toml", &with_proxy, 0o604)).unwrap_err();
        assert!(err.contains("proxy password"), "{err}");
        assert!(!err.contains("pw@"), "{err}");

        std::fs::remove_dir_all(&dir).unwrap();
    }
}
