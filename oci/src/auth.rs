//! Registry credentials from the Docker config file, as every registry user expects:
//! `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, with its `auths`, `credHelpers`
//! and `credsStore` (read through the `docker_credential` crate). `login` writes the same file
//! (or hands the secret to the configured credential helper), atomically and mode 0600.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use docker_credential::{CredentialRetrievalError, DockerCredential};

use crate::error::{Error, Result};

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// No credentials configured: anonymous access.
    Anonymous,
    /// User name and password (or token used as a password).
    Basic(String, String),
    /// An identity token from a credential helper.
    Token(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic(user, _) => write!(f, "Basic({user}, ***)"),
            Credentials::Token(_) => f.write_str("Token(***)"),
        }
    }
}

impl Credentials {
    pub(crate) fn to_client(&self) -> oci_client::secrets::RegistryAuth {
        use oci_client::secrets::RegistryAuth;
        match self {
            Credentials::Anonymous => RegistryAuth::Anonymous,
            Credentials::Basic(u, p) => RegistryAuth::Basic(u.clone(), p.clone()),
            Credentials::Token(t) => RegistryAuth::Bearer(t.clone()),
        }
    }
}

/// The Docker config file credentials are read from and written to.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    path: PathBuf,
}

impl DockerConfig {
    /// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
    pub fn locate() -> Option<Self> {
        let dir = std::env::var_os("DOCKER_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))?;
        Some(DockerConfig {
            path: dir.join("config.json"),
        })
    }

    /// A config file at an explicit path.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        DockerConfig { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The credentials configured for `registry` (host[:port]); anonymous when the file does
    /// not exist or has nothing for that registry.
    pub fn credentials(&self, registry: &str) -> Result<Credentials> {
        let file = match fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Credentials::Anonymous);
            }
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        match docker_credential::get_credential_from_reader(std::io::BufReader::new(file), registry)
        {
            Ok(DockerCredential::UsernamePassword(u, p)) => Ok(Credentials::Basic(u, p)),
            Ok(DockerCredential::IdentityToken(t)) => Ok(Credentials::Token(t)),
            Err(CredentialRetrievalError::NoCredentialConfigured) => Ok(Credentials::Anonymous),
            // A helper (e.g. a global `credsStore`) that has nothing for this registry.
            Err(CredentialRetrievalError::HelperFailure { stdout, .. })
                if stdout
                    .to_ascii_lowercase()
                    .contains("credentials not found") =>
            {
                Ok(Credentials::Anonymous)
            }
            Err(CredentialRetrievalError::ConfigReadError) => Err(Error::Credentials {
                registry: registry.to_string(),
                detail: format!("{} is not a valid Docker config file", self.path.display()),
            }),
            Err(e) => Err(Error::Credentials {
                registry: registry.to_string(),
                detail: e.to_string(),
            }),
        }
    }

    /// Records `user`/`password` for `registry`: through the credential helper the file
    /// configures for it (`credHelpers`, else `credsStore`), else base64 in `auths`.
    pub fn store(&self, registry: &str, user: &str, password: &str) -> Result<()> {
        let mut doc: serde_json::Value = match fs::read_to_string(&self.path) {
            Ok(text) if text.trim().is_empty() => serde_json::json!({}),
            Ok(text) => serde_json::from_str(&text).map_err(|e| Error::Credentials {
                registry: registry.to_string(),
                detail: format!("{} is not valid JSON: {e}", self.path.display()),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        let obj = doc.as_object_mut().ok_or_else(|| Error::Credentials {
            registry: registry.to_string(),
            detail: format!("{} is not a JSON object", self.path.display()),
        })?;
        let helper = obj
            .get("credHelpers")
            .and_then(|h| h.get(registry))
            .and_then(|h| h.as_str())
            .or_else(|| obj.get("credsStore").and_then(|s| s.as_str()))
            .filter(|h| !h.is_empty())
            .map(str::to_string);
        let auths = obj.entry("auths").or_insert_with(|| serde_json::json!({}));
        let auths = auths.as_object_mut().ok_or_else(|| Error::Credentials {
            registry: registry.to_string(),
            detail: "`auths` is not a JSON object".to_string(),
        })?;
        match helper {
            Some(helper) => {
                store_with_helper(&helper, registry, user, password)?;
                // Docker keeps an empty entry so tools know a login exists.
                auths.insert(registry.to_string(), serde_json::json!({}));
            }
            None => {
                let auth =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                auths.insert(registry.to_string(), serde_json::json!({ "auth": auth }));
            }
        }
        self.write(&doc)
    }

    fn write(&self, doc: &serde_json::Value) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".config.json-")
            .tempfile_in(dir)
            .map_err(|e| Error::io(dir, e))?;
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file()
                .set_permissions(fs::Permissions::from_mode(0o600))
                .map_err(|e| Error::io(tmp.path().to_path_buf(), e))?;
        }
        let text = serde_json::to_string_pretty(doc).expect("JSON value serialises") + "\n";
        tmp.write_all(text.as_bytes())
            .map_err(|e| Error::io(tmp.path().to_path_buf(), e))?;
        tmp.persist(&self.path)
            .map_err(|e| Error::io(&self.path, e.error))?;
        Ok(())
    }
}

fn store_with_helper(helper: &str, registry: &str, user: &str, password: &str) -> Result<()> {
    let program = format!("docker-credential-{helper}");
    let fail = |detail: String| Error::Credentials {
        registry: registry.to_string(),
        detail,
    };
    let mut child = Command::new(&program)
        .arg("store")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run credential helper `{program}`: {e}")))?;
    let payload =
        serde_json::json!({ "ServerURL": registry, "Username": user, "Secret": password });
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(payload.to_string().as_bytes())
        .map_err(|e| fail(format!("writing to `{program}`: {e}")))?;
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("`{program}`: {e}")))?;
    if !out.status.success() {
        return Err(fail(format!(
            "`{program} store` failed: {}{}",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = DockerConfig::at(dir.path().join("docker/config.json"));
        assert_eq!(
            cfg.credentials("127.0.0.1:5000").unwrap(),
            Credentials::Anonymous
        );
        cfg.store("127.0.0.1:5000", "user", "p:ss").unwrap();
        cfg.store("other.example", "u2", "x").unwrap();
        assert_eq!(
            cfg.credentials("127.0.0.1:5000").unwrap(),
            Credentials::Basic("user".into(), "p:ss".into())
        );
        assert_eq!(
            cfg.credentials("nothing.example").unwrap(),
            Credentials::Anonymous
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(cfg.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn keeps_unrelated_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(
            &path,
            r#"{"psFormat":"table","auths":{"a.example":{"auth":"dTpw"}}}"#,
        )
        .unwrap();
        let cfg = DockerConfig::at(&path);
        cfg.store("b.example", "x", "y").unwrap();
        let doc: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(doc["psFormat"], "table");
        assert_eq!(doc["auths"]["a.example"]["auth"], "dTpw");
        assert_eq!(
            cfg.credentials("a.example").unwrap(),
            Credentials::Basic("u".into(), "p".into())
        );
    }

    #[test]
    fn malformed_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, "{not json").unwrap();
        assert!(matches!(
            DockerConfig::at(&path).credentials("r.example"),
            Err(Error::Credentials { .. })
        ));
    }
}
