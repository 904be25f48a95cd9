//! What a source talks to: URLs and credentials, with secrets read from the environment.

use crate::config::{Secret, SourceConfig, SourceKind};
use crate::taxii_client::Credentials;

/// What a source talks to, with its secrets resolved from the environment.
pub(crate) enum Upstream {
    Taxii {
        poll_url: Option<reqwest::Url>,
        discovery_url: Option<reqwest::Url>,
        credentials: Option<Credentials>,
    },
    Rest {
        base: reqwest::Url,
        api_key: Secret,
    },
}

/// Resolve URLs and secrets. `Err(var)` names the environment variable that is missing.
pub(crate) fn resolve_upstream(cfg: &SourceConfig) -> Result<Upstream, String> {
    let env_secret = |var: &str| -> Result<Secret, String> {
        match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim().to_string())),
            _ => Err(var.to_string()),
        }
    };
    let parse = |u: &Option<String>| u.as_deref().and_then(|u| reqwest::Url::parse(u).ok());
    match cfg.kind {
        SourceKind::Taxii11 => {
            let password = match (&cfg.password_env, &cfg.password) {
                (Some(var), _) => Some(env_secret(var)?),
                (None, Some(p)) => Some(p.clone()),
                (None, None) => None,
            };
            let credentials = cfg.username.as_ref().map(|u| Credentials {
                username: Secret::new(u.clone()),
                password: password.unwrap_or_else(|| Secret::new("")),
            });
            Ok(Upstream::Taxii {
                poll_url: parse(&cfg.poll_url),
                discovery_url: parse(&cfg.discovery_url),
                credentials,
            })
        }
        SourceKind::Otx => {
            let key = env_secret(cfg.api_key_var())?;
            let poll = cfg
                .poll_url
                .clone()
                .unwrap_or_else(|| format!("{}/taxii/poll", cfg.otx_base()));
            Ok(Upstream::Taxii {
                poll_url: reqwest::Url::parse(&poll).ok(),
                discovery_url: None,
                credentials: Some(Credentials {
                    username: key,
                    password: cfg.password.clone().unwrap_or_else(|| Secret::new("foo")),
                }),
            })
        }
        SourceKind::OtxRest => {
            let api_key = env_secret(cfg.api_key_var())?;
            let base = reqwest::Url::parse(&format!("{}/", cfg.otx_base()))
                .map_err(|_| "base_url".to_string())?;
            Ok(Upstream::Rest { base, api_key })
        }
    }
}
