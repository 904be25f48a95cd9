//! The command line's side of the admin listener: calls to the server running on a data
//! folder, and what a failed call means to the user, as one line and an exit code.

use std::fmt;
use std::path::Path;

use crate::cli::exit;

/// Why an admin call did not give an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    /// The data folder does not exist.
    NoDataDir(String),
    /// No server answers for this data folder.
    NotRunning(String),
    /// The admin token cannot be read, or the listener refused it.
    Denied(String),
    /// The server refused the request; nothing was done.
    Refused { status: u16, message: String },
    /// The server failed, or its answer could not be read.
    Failed(String),
    /// The request may have reached the server, but no answer came (it stopped or was
    /// killed while serving it): what was asked may or may not have been done.
    NoAnswer(String),
}

impl AdminError {
    /// The sysexits-style exit code of a command that stops on this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            AdminError::NoDataDir(_) => exit::NO_INPUT,
            AdminError::NotRunning(_) | AdminError::Failed(_) | AdminError::NoAnswer(_) => {
                exit::UNAVAILABLE
            }
            AdminError::Denied(_) => exit::NO_PERM,
            // A bad value or body: the data is wrong.
            AdminError::Refused {
                status: 400 | 413 | 422,
                ..
            } => exit::DATA,
            // An unknown collection or source, a collection that takes no import: the
            // command names the wrong thing.
            AdminError::Refused { .. } => exit::USAGE,
        }
    }

    /// Whether the server is simply not there (a command may then read the store).
    pub fn is_not_running(&self) -> bool {
        matches!(self, AdminError::NotRunning(_))
    }
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminError::NoDataDir(m)
            | AdminError::NotRunning(m)
            | AdminError::Denied(m)
            | AdminError::Failed(m)
            | AdminError::NoAnswer(m)
            | AdminError::Refused { message: m, .. } => f.write_str(m),
        }
    }
}

/// Call the admin listener of the server running on `data_dir`, with an optional JSON
/// body; the body of a successful answer.
pub fn request(
    data_dir: &Path,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
) -> Result<String, AdminError> {
    if !data_dir.is_dir() {
        return Err(AdminError::NoDataDir(format!(
            "no taxii-mirror data folder at {}",
            data_dir.display()
        )));
    }
    let read = |name: &str| {
        let file = data_dir.join(name);
        std::fs::read_to_string(&file)
            .map(|s| s.trim().to_string())
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => AdminError::NotRunning(format!(
                    "no server is running on {} ({} not found; start one with \
                     `taxii-mirror serve`)",
                    data_dir.display(),
                    file.display()
                )),
                std::io::ErrorKind::PermissionDenied => AdminError::Denied(format!(
                    "cannot read {}: permission denied (run the command as the user the \
                     server runs as)",
                    file.display()
                )),
                _ => AdminError::Failed(format!("cannot read {}: {e}", file.display())),
            })
    };
    let token = read(crate::admin::TOKEN_FILE)?;
    let addr = read(crate::admin::ADDR_FILE)?;
    let url = format!("http://{addr}{path}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AdminError::Failed(e.to_string()))?;
    let (status, text) = runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut request = match method {
            "POST" => client.post(&url),
            _ => client.get(&url),
        };
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body);
        }
        if let Some(id) = crate::admin::folder_id(data_dir) {
            request = request.header(crate::admin::FOLDER_HEADER, id);
        }
        let response = request.bearer_auth(token).send().await.map_err(|e| {
            if e.is_connect() {
                AdminError::NotRunning(format!(
                    "no server answers for {} at {addr} (is it running?)",
                    data_dir.display()
                ))
            } else {
                AdminError::NoAnswer(format!("the server at {addr} did not answer: {e}"))
            }
        })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| AdminError::NoAnswer(format!("the answer from {addr} broke off: {e}")))?;
        Ok::<_, AdminError>((status, text))
    })?;
    if status.is_success() {
        return Ok(text);
    }
    let message = error_text(&text).unwrap_or_else(|| format!("the server answered {status}"));
    Err(match status.as_u16() {
        // The address file came with a copied folder, or outlived a killed server: the
        // server there serves another folder, none serves this one.
        421 => AdminError::NotRunning(format!(
            "no server is running on {} ({addr} answers for another data folder: {message})",
            data_dir.display()
        )),
        401 | 403 => AdminError::Denied(format!(
            "the admin listener at {addr} refused the token in {} (is another server using \
             that address? the token changes at each start)",
            data_dir.join(crate::admin::TOKEN_FILE).display()
        )),
        code @ 400..=499 => AdminError::Refused {
            status: code,
            message,
        },
        _ => AdminError::Failed(format!("the server failed: {message}")),
    })
}

/// The `error` of a JSON error answer, or a short plain-text answer on one line.
fn error_text(body: &str) -> Option<String> {
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(body) {
        return value["error"].as_str().map(str::to_owned);
    }
    let line = body.trim();
    (!line.is_empty() && line.len() <= 300 && !line.contains('\n')).then(|| line.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_sysexits_codes() {
        let refused = |status| AdminError::Refused {
            status,
            message: String::new(),
        };
        assert_eq!(refused(400).exit_code(), 65);
        assert_eq!(refused(404).exit_code(), 64);
        assert_eq!(refused(409).exit_code(), 64);
        assert_eq!(AdminError::NotRunning(String::new()).exit_code(), 69);
        assert_eq!(AdminError::Failed(String::new()).exit_code(), 69);
        assert_eq!(AdminError::Denied(String::new()).exit_code(), 77);
        assert_eq!(AdminError::NoDataDir(String::new()).exit_code(), 66);
    }

    #[test]
    fn the_error_of_an_answer_is_one_line() {
        assert_eq!(
            error_text(r#"{"error":"no such collection: x"}"#).as_deref(),
            Some("no such collection: x")
        );
        assert_eq!(
            error_text("Json deserialize error: missing field `values`").as_deref(),
            Some("Json deserialize error: missing field `values`")
        );
        assert_eq!(error_text(""), None);
        assert_eq!(error_text("<html>\n<body>x</body>\n</html>"), None);
    }

    #[test]
    fn a_missing_folder_or_server_is_said_plainly() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let missing = dir.path().join("nope");
        let err = request(&missing, "GET", "/admin/status", None).unwrap_err();
        assert_eq!(err.exit_code(), 66, "{err}");
        let err = request(dir.path(), "GET", "/admin/status", None).unwrap_err();
        assert!(err.is_not_running(), "{err}");
        assert!(err.to_string().contains("no server is running"), "{err}");
        // An address file left by a stopped server: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("admin.addr"), format!("127.0.0.1:{port}"))
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("admin.token"), "t").unwrap_or_else(|e| panic!("{e}"));
        let err = request(dir.path(), "GET", "/admin/status", None).unwrap_err();
        assert!(err.is_not_running(), "{err}");
        assert_eq!(err.exit_code(), 69);
    }
}
