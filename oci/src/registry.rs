//! The transport: one `oci-client` client per registry (authentication, pushes), one bounded
//! HTTP client for every pull ([`crate::fetch`]), with the plain-HTTP policy (loopback
//! registries and an explicit insecure list only), credentials from the Docker config, the
//! bounds of [`crate::bounds`] (deadline, stop flag, module-size limit), and the mapping of
//! `oci-client`'s errors onto this crate's [`Error`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::{Client, RegistryOperation};

use crate::auth::{Credentials, DockerConfig};
use crate::bounds::{CONNECT_TIMEOUT, DEFAULT_MAX_BLOB_SIZE, DEFAULT_TIMEOUT, READ_TIMEOUT};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::fetch::Authorization;
use crate::loopback::is_loopback;
use crate::reference::OciReference;
use crate::untrusted::escape;

/// Connection settings shared by every registry operation.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Registries (host[:port]) reached over plain HTTP although not on loopback.
    pub insecure: Vec<String>,
    /// The Docker config file; `None` locates it from `$DOCKER_CONFIG` / `$HOME`.
    pub docker_config: Option<DockerConfig>,
    /// The total deadline of each registry operation (a resolve, a pull of a manifest and its
    /// blobs, a push, …) [default: [`DEFAULT_TIMEOUT`], 5 minutes].
    pub timeout: Duration,
    /// The largest module layer pulled, checked against its declared size before any download:
    /// the module-size compile limit in effect [default: [`DEFAULT_MAX_BLOB_SIZE`]].
    pub max_blob_size: u64,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            insecure: Vec::new(),
            docker_config: None,
            timeout: DEFAULT_TIMEOUT,
            max_blob_size: DEFAULT_MAX_BLOB_SIZE,
        }
    }
}

type AuthCache = Mutex<HashMap<(String, String), (Authorization, Instant)>>;

/// Clients per registry, created on first use.
pub(crate) struct Transport {
    options: RegistryOptions,
    clients: Mutex<HashMap<String, (Client, Credentials)>>,
    http: reqwest::Client,
    auth: AuthCache,
    stop: Arc<AtomicBool>,
}

impl Transport {
    pub(crate) fn new(options: RegistryOptions) -> Result<Self> {
        // reqwest is built without a default crypto provider; ring needs no C toolchain extras.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("mod-wasm/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Registry {
                registry: "(any)".to_string(),
                detail: format!("cannot create an HTTP client: {}", error_chain(&e)),
            })?;
        Ok(Transport {
            options,
            clients: Mutex::new(HashMap::new()),
            http,
            auth: Mutex::new(HashMap::new()),
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The bounded HTTP client pulls use.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Authorizations reused per (registry, repository).
    pub(crate) fn auth_cache(&self) -> &AuthCache {
        &self.auth
    }

    /// The flag that stops every operation under way (and refuses new ones) once set.
    pub(crate) fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// The largest module layer pulled.
    pub(crate) fn max_blob_size(&self) -> u64 {
        self.options.max_blob_size
    }

    /// Runs `operation` (named `what`) on `registry` within the deadline, unless stopped.
    pub(crate) async fn bounded<T>(
        &self,
        registry: &str,
        what: impl FnOnce() -> String,
        operation: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        crate::deadline::bounded(registry, what, self.options.timeout, &self.stop, operation).await
    }

    /// Whether requests to `registry` use plain HTTP.
    pub(crate) fn is_plain_http(&self, registry: &str) -> bool {
        is_loopback(registry) || self.options.insecure.iter().any(|r| r == registry)
    }

    /// The `oci-client` client and credentials for `registry`.
    pub(crate) fn client(&self, registry: &str) -> Result<(Client, Credentials)> {
        let mut clients = self.clients.lock().expect("client map lock");
        if let Some(c) = clients.get(registry) {
            return Ok(c.clone());
        }
        let creds = match self
            .options
            .docker_config
            .clone()
            .or_else(DockerConfig::locate)
        {
            Some(cfg) => cfg.credentials(registry)?,
            None => Credentials::Anonymous,
        };
        let config = ClientConfig {
            protocol: if self.is_plain_http(registry) {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            platform_resolver: None,
            user_agent: concat!("mod-wasm/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        let client = Client::try_from(config).map_err(|e| Error::Registry {
            registry: registry.to_string(),
            detail: format!("cannot create an HTTP client: {e}"),
        })?;
        clients.insert(registry.to_string(), (client.clone(), creds.clone()));
        Ok((client, creds))
    }

    /// Uploads `data` as blob `digest` unless the registry already has it.
    pub(crate) async fn push_blob(
        &self,
        reference: &OciReference,
        data: Vec<u8>,
        digest: &Digest,
    ) -> Result<()> {
        let (client, creds) = self.client(reference.registry())?;
        let r = reference.to_client();
        client
            .auth(&r, &creds.to_client(), RegistryOperation::Push)
            .await
            .map_err(|e| map_error(e, reference, "repository"))?;
        let digest = digest.to_string();
        let exists = client
            .blob_exists(&r, &digest)
            .await
            .map_err(|e| map_error(e, reference, "repository"))?;
        if !exists {
            client
                .push_blob(&r, data, &digest)
                .await
                .map_err(|e| map_error(e, reference, "repository"))?;
        }
        Ok(())
    }

    /// Uploads a manifest under `reference`'s tag (or digest).
    pub(crate) async fn push_manifest(
        &self,
        reference: &OciReference,
        body: Vec<u8>,
        media_type: &str,
    ) -> Result<()> {
        let (client, _) = self.client(reference.registry())?;
        let r = reference.to_client();
        let content_type = http_header(media_type);
        client
            .push_manifest_raw(&r, body, content_type)
            .await
            .map_err(|e| map_error(e, reference, "repository"))?;
        Ok(())
    }

    /// Checks `creds` against `registry`: a token exchange for registries that use tokens, else
    /// an authenticated `GET /v2/`.
    pub(crate) async fn check_login(&self, registry: &str, creds: &Credentials) -> Result<()> {
        // The client is fresh: do not reuse stored credentials for the check.
        self.clients
            .lock()
            .expect("client map lock")
            .remove(registry);
        let (client, _) = self.client(registry)?;
        self.clients
            .lock()
            .expect("client map lock")
            .remove(registry);
        // Any repository works for the check; the scope only needs to parse.
        let probe = OciReference::parse(&format!("oci://{registry}/mod-wasm/login-check:latest"))?;
        let r = probe.to_client();
        client
            .auth(&r, &creds.to_client(), RegistryOperation::Pull)
            .await
            .map_err(|e| map_error(e, &probe, "registry"))?;
        // Basic-auth registries do not reject anything in `auth`: list tags to exercise the
        // credentials. 404 (no such repository) means they were accepted.
        match client
            .list_tags(&r, &creds.to_client(), Some(1), None)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match map_error(e, &probe, "repository") {
                Error::NotFound { .. } => Ok(()),
                other => Err(other),
            },
        }
    }
}

fn http_header(media_type: &str) -> http::HeaderValue {
    http::HeaderValue::from_str(media_type).expect("media types are valid header values")
}

/// Maps `oci-client`'s error for an operation on `reference` (`what` names the object asked
/// for, for not-found errors). The registry's words in it are escaped ([`escape`]).
pub(crate) fn map_error(
    e: OciDistributionError,
    reference: &OciReference,
    what: &'static str,
) -> Error {
    let clean = |text: String| escape(&text).into_owned();
    match raw_error(e, reference, what) {
        Error::Registry { registry, detail } => Error::Registry {
            registry,
            detail: clean(detail),
        },
        Error::Unreachable { registry, detail } => Error::Unreachable {
            registry,
            detail: clean(detail),
        },
        Error::Unauthorized {
            registry,
            repository,
            status,
            detail,
        } => Error::Unauthorized {
            registry,
            repository,
            status,
            detail: clean(detail),
        },
        Error::DigestMismatch {
            what,
            expected,
            actual,
        } => Error::DigestMismatch {
            what,
            expected: clean(expected),
            actual: clean(actual),
        },
        other => other,
    }
}

fn raw_error(e: OciDistributionError, reference: &OciReference, what: &'static str) -> Error {
    let registry = reference.registry().to_string();
    let repository = reference.repository().to_string();
    let not_found = |what: &'static str| Error::NotFound {
        what,
        reference: reference.to_string(),
    };
    let unauthorized = |status: u16, detail: String| Error::Unauthorized {
        registry: registry.clone(),
        repository: repository.clone(),
        status,
        detail,
    };
    match e {
        OciDistributionError::RequestError(err) => {
            let detail = error_chain(&err);
            if let Some(status) = err.status() {
                return match status.as_u16() {
                    401 | 403 => unauthorized(status.as_u16(), detail),
                    404 => not_found(what),
                    _ => Error::Registry { registry, detail },
                };
            }
            if err.is_connect() || err.is_timeout() || err.is_request() {
                Error::Unreachable { registry, detail }
            } else {
                Error::Registry { registry, detail }
            }
        }
        OciDistributionError::UnauthorizedError { url } => {
            unauthorized(401, format!("authentication required for {url}"))
        }
        OciDistributionError::AuthenticationFailure(msg) => unauthorized(401, msg),
        OciDistributionError::RegistryError { envelope, url } => {
            let code = envelope.errors.first().map(|e| &e.code);
            let message = envelope
                .errors
                .iter()
                .map(|e| e.message.clone())
                .collect::<Vec<_>>()
                .join("; ");
            match code {
                Some(OciErrorCode::ManifestUnknown) => not_found("tag or manifest"),
                Some(OciErrorCode::NameUnknown) => not_found("repository"),
                Some(OciErrorCode::BlobUnknown) => not_found("blob"),
                Some(OciErrorCode::Unauthorized) => unauthorized(401, message),
                Some(OciErrorCode::Denied) => unauthorized(403, message),
                Some(OciErrorCode::NotFound) => not_found(what),
                _ => Error::Registry {
                    registry,
                    detail: format!("{url}: {message}"),
                },
            }
        }
        OciDistributionError::ServerError { code, url, message } => match code {
            401 => unauthorized(401, message),
            403 => unauthorized(403, message),
            404 => not_found(what),
            _ => Error::Registry {
                registry,
                detail: format!("{url}: HTTP {code}: {message}"),
            },
        },
        OciDistributionError::DigestError(oci_client::errors::DigestError::VerificationError {
            expected,
            actual,
        }) => Error::DigestMismatch {
            what: format!("{what} of {reference}"),
            expected,
            actual,
        },
        OciDistributionError::IoError(err) => Error::Registry {
            registry,
            detail: err.to_string(),
        },
        other => Error::Registry {
            registry,
            detail: other.to_string(),
        },
    }
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(insecure: &[&str]) -> Transport {
        Transport::new(RegistryOptions {
            insecure: insecure.iter().map(|s| s.to_string()).collect(),
            ..RegistryOptions::default()
        })
        .unwrap()
    }

    // The policy is decided before any connection is made, so it is tested here without sending
    // traffic anywhere but loopback (the workplace allows no other target).
    #[test]
    fn plain_http_only_for_loopback_and_listed_registries() {
        let t = transport(&["registry.internal:5000"]);
        assert!(t.is_plain_http("127.0.0.1:5000"));
        assert!(t.is_plain_http("localhost:5000"));
        assert!(t.is_plain_http("[::1]:5000"));
        assert!(t.is_plain_http("registry.internal:5000"));
        assert!(!t.is_plain_http("registry.internal:5001"));
        assert!(!t.is_plain_http("registry.example.com"));
        assert!(!t.is_plain_http("10.0.0.5:5000"));
        assert!(!transport(&[]).is_plain_http("registry.internal:5000"));
    }
}
