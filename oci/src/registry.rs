//! The transport: one `oci-client` client per registry, with the plain-HTTP policy (loopback
//! registries and an explicit insecure list only), credentials from the Docker config, and the
//! mapping of `oci-client`'s errors onto this crate's [`Error`].

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::{Client, RegistryOperation};

use crate::auth::{Credentials, DockerConfig};
use crate::cache::BlobWriter;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::loopback::is_loopback;
use crate::media::ACCEPTED_MANIFESTS;
use crate::reference::OciReference;

/// Connection settings shared by every registry operation.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Registries (host[:port]) reached over plain HTTP although not on loopback.
    pub insecure: Vec<String>,
    /// The Docker config file; `None` locates it from `$DOCKER_CONFIG` / `$HOME`.
    pub docker_config: Option<DockerConfig>,
}

/// Clients per registry, created on first use.
pub(crate) struct Transport {
    options: RegistryOptions,
    clients: Mutex<HashMap<String, (Client, Credentials)>>,
}

impl Transport {
    pub(crate) fn new(options: RegistryOptions) -> Self {
        // reqwest is built without a default crypto provider; ring needs no C toolchain extras.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Transport {
            options,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Whether requests to `registry` use plain HTTP.
    pub(crate) fn is_plain_http(&self, registry: &str) -> bool {
        is_loopback(registry) || self.options.insecure.iter().any(|r| r == registry)
    }

    fn client(&self, registry: &str) -> Result<(Client, Credentials)> {
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
            connect_timeout: Some(Duration::from_secs(15)),
            read_timeout: Some(Duration::from_secs(120)),
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

    /// Fetches the manifest (or index) `reference` names; its digest is verified against the
    /// reference's pin or the registry's `Docker-Content-Digest`, and computed from the bytes.
    pub(crate) async fn fetch_manifest(
        &self,
        reference: &OciReference,
    ) -> Result<(Vec<u8>, Digest)> {
        let (client, creds) = self.client(reference.registry())?;
        let r = reference.to_client();
        // oci-client compares the bytes with the pin and with the registry's
        // Docker-Content-Digest; either disagreement is a manifest mismatch.
        let (bytes, _digest) = client
            .pull_manifest_raw(&r, &creds.to_client(), ACCEPTED_MANIFESTS)
            .await
            .map_err(|e| match map_error(e, reference, "tag or manifest") {
                Error::DigestMismatch {
                    expected, actual, ..
                } => Error::ManifestMismatch {
                    reference: reference.to_string(),
                    expected,
                    actual,
                },
                other => other,
            })?;
        let actual = Digest::of(&bytes);
        if let Some(pinned) = reference.digest()
            && *pinned != actual
        {
            return Err(Error::ManifestMismatch {
                reference: reference.to_string(),
                expected: pinned.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok((bytes.to_vec(), actual))
    }

    /// Streams blob `digest` of `reference`'s repository into `writer`, calling `progress`
    /// with the bytes written so far.
    pub(crate) async fn fetch_blob(
        &self,
        reference: &OciReference,
        digest: &Digest,
        writer: &mut BlobWriter,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<()> {
        let (client, creds) = self.client(reference.registry())?;
        let r = reference.to_client();
        client
            .store_auth_if_needed(r.resolve_registry(), &creds.to_client())
            .await;
        let digest_text = digest.to_string();
        let mut sink = Sink {
            writer,
            progress,
            failed: None,
        };
        let outcome = client.pull_blob(&r, digest_text.as_str(), &mut sink).await;
        if let Some(e) = sink.failed.take() {
            return Err(e);
        }
        outcome.map_err(|e| map_error(e, reference, "blob"))
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

/// An `AsyncWrite` into the cache writer (plain file writes: blobs are modules, not images).
struct Sink<'a> {
    writer: &'a mut BlobWriter,
    progress: &'a (dyn Fn(u64) + Sync),
    failed: Option<Error>,
}

impl tokio::io::AsyncWrite for Sink<'_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        match this.writer.write(buf) {
            Ok(()) => {
                (this.progress)(this.writer.written());
                Poll::Ready(Ok(buf.len()))
            }
            Err(e) => {
                let msg = e.to_string();
                this.failed = Some(e);
                Poll::Ready(Err(std::io::Error::other(msg)))
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Maps `oci-client`'s error for an operation on `reference` (`what` names the object asked
/// for, for not-found errors).
pub(crate) fn map_error(
    e: OciDistributionError,
    reference: &OciReference,
    what: &'static str,
) -> Error {
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

fn error_chain(e: &dyn std::error::Error) -> String {
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
            docker_config: None,
        })
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
