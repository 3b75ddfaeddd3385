//! Bounded GETs from a registry: manifests (and indexes, signature manifests) read up to
//! [`MAX_MANIFEST_SIZE`] while they stream, blobs streamed into the cache up to their declared
//! size after that size was checked against its limit, error bodies read up to
//! [`crate::bounds::MAX_ERROR_BODY`]. `oci-client` authenticates (token exchange, basic auth);
//! the requests themselves are made here, so no body is ever read whole before it is measured.
//!
//! Every manifest is hashed: it must match the reference's pin, and the registry's
//! `Docker-Content-Digest` when it sends one. Every blob is hashed on its way into the cache
//! and renamed into place only when it matches its digest and its declared size.

use std::time::{Duration, Instant};

use oci_client::RegistryOperation;

use crate::auth::Credentials;
use crate::bounds::{MAX_MANIFEST_SIZE, check_declared, read_capped, read_prefix};
use crate::cache::BlobWriter;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::media::ACCEPTED_MANIFESTS;
use crate::reference::OciReference;
use crate::registry::{Transport, map_error};
use crate::untrusted::escape;

/// How long an authorization is reused for one repository (registries' tokens last a minute
/// or more; `oci-client` assumes 60 s for tokens that do not say).
const AUTH_REUSE: Duration = Duration::from_secs(50);

/// The `Authorization` a request carries.
#[derive(Clone, Debug)]
pub(crate) enum Authorization {
    /// None (an open registry, or no credentials).
    None,
    /// `Bearer TOKEN`.
    Bearer(String),
    /// Basic user/password.
    Basic(String, String),
}

impl Transport {
    /// The authorization for pulling from `reference`'s repository: reused for
    /// [`AUTH_REUSE`], else negotiated by `oci-client` (bearer token or basic credentials).
    async fn authorization(&self, reference: &OciReference, fresh: bool) -> Result<Authorization> {
        let key = (
            reference.registry().to_string(),
            reference.repository().to_string(),
        );
        if !fresh
            && let Some((auth, at)) = self.auth_cache().lock().expect("auth cache").get(&key)
            && at.elapsed() < AUTH_REUSE
        {
            return Ok(auth.clone());
        }
        let (client, creds) = self.client(reference.registry())?;
        let token = client
            .auth(
                &reference.to_client(),
                &creds.to_client(),
                RegistryOperation::Pull,
            )
            .await
            .map_err(|e| map_error(e, reference, "repository"))?;
        let auth = match (token, creds) {
            (Some(token), _) => Authorization::Bearer(token),
            (None, Credentials::Basic(user, password)) => Authorization::Basic(user, password),
            (None, _) => Authorization::None,
        };
        self.auth_cache()
            .lock()
            .expect("auth cache")
            .insert(key, (auth.clone(), Instant::now()));
        Ok(auth)
    }

    /// `GET /v2/REPO/{kind}/{name}` with the repository's authorization (negotiated again once
    /// when a reused one is refused). Answers other than 2xx become errors here, their bodies
    /// read up to the error cap.
    async fn get(
        &self,
        reference: &OciReference,
        kind: &str,
        name: &str,
        accept: Option<&str>,
        what: &'static str,
    ) -> Result<reqwest::Response> {
        let registry = reference.registry();
        let client_ref = reference.to_client();
        let scheme = if self.is_plain_http(registry) {
            "http"
        } else {
            "https"
        };
        let url = format!(
            "{scheme}://{}/v2/{}/{kind}/{name}",
            client_ref.resolve_registry(),
            client_ref.repository()
        );
        let mut fresh = false;
        loop {
            let mut request = self.http().get(&url);
            if let Some(accept) = accept {
                request = request.header(reqwest::header::ACCEPT, accept);
            }
            request = match self.authorization(reference, fresh).await? {
                Authorization::None => request,
                Authorization::Bearer(token) => request.bearer_auth(token),
                Authorization::Basic(user, password) => request.basic_auth(user, Some(password)),
            };
            let response = request
                .send()
                .await
                .map_err(|e| transport_error(&e, registry))?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            if status.as_u16() == 401 && !fresh {
                fresh = true;
                continue;
            }
            let body = read_prefix(response).await;
            return Err(status_error(status.as_u16(), &body, reference, what, &url));
        }
    }

    /// Fetches the manifest (or index) `reference` names, at most [`MAX_MANIFEST_SIZE`]; its
    /// digest is computed from the bytes and must match the reference's pin and the registry's
    /// `Docker-Content-Digest`.
    pub(crate) async fn fetch_manifest(
        &self,
        reference: &OciReference,
    ) -> Result<(Vec<u8>, Digest)> {
        let name = match (reference.digest(), reference.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(tag)) => tag.to_string(),
            (None, None) => "latest".to_string(),
        };
        let response = self
            .get(
                reference,
                "manifests",
                &name,
                Some(&ACCEPTED_MANIFESTS.join(", ")),
                "tag or manifest",
            )
            .await?;
        let announced = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = read_capped(
            response,
            MAX_MANIFEST_SIZE,
            reference.registry(),
            &format!("the manifest of {reference}"),
        )
        .await?;
        let actual = Digest::of(&bytes);
        let mismatch = |expected: String| Error::ManifestMismatch {
            reference: reference.to_string(),
            expected: escape(&expected).into_owned(),
            actual: actual.to_string(),
        };
        if let Some(pinned) = reference.digest()
            && *pinned != actual
        {
            return Err(mismatch(pinned.to_string()));
        }
        // A digest in another algorithm than sha256 cannot be compared here; the pin (and the
        // lock) always are.
        if let Some(announced) = announced
            && announced.starts_with("sha256:")
            && announced != actual.to_string()
        {
            return Err(mismatch(announced));
        }
        Ok((bytes, actual))
    }

    /// Streams blob `digest` of `reference`'s repository into `writer`: refused unrequested when
    /// its declared `size` passes `limit`, refused unread when the registry announces another
    /// length, cut off the moment it passes `size` (the writer), verified by the writer's commit.
    /// `progress` gets the bytes written so far.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn fetch_blob(
        &self,
        reference: &OciReference,
        digest: &Digest,
        size: u64,
        limit: u64,
        what: &str,
        writer: &mut BlobWriter,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<()> {
        let registry = reference.registry();
        check_declared(size, limit, registry, what)?;
        let mut response = self
            .get(reference, "blobs", &digest.to_string(), None, "blob")
            .await?;
        if let Some(n) = response.content_length()
            && n != size
        {
            return Err(Error::SizeMismatch {
                what: what.to_string(),
                expected: size,
                actual: n,
            });
        }
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error(&e, registry))?
        {
            writer.write(&chunk)?;
            progress(writer.written());
        }
        Ok(())
    }
}

/// A failed request (connection, TLS, a body cut short) on `registry`.
pub(crate) fn transport_error(e: &reqwest::Error, registry: &str) -> Error {
    let detail = escape(&crate::registry::error_chain(e)).into_owned();
    if e.is_connect() || e.is_timeout() || e.is_request() {
        Error::Unreachable {
            registry: registry.to_string(),
            detail,
        }
    } else {
        Error::Registry {
            registry: registry.to_string(),
            detail,
        }
    }
}

/// The error for an answer `status` with (the first bytes of) `body`, an OCI error envelope
/// when the registry follows the spec.
fn status_error(
    status: u16,
    body: &[u8],
    reference: &OciReference,
    what: &'static str,
    url: &str,
) -> Error {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: String,
        #[serde(default)]
        message: String,
    }
    let entries = serde_json::from_slice::<Envelope>(body)
        .map(|e| e.errors)
        .unwrap_or_default();
    let code = entries.first().map(|e| e.code.as_str()).unwrap_or("");
    let message = if entries.is_empty() {
        String::from_utf8_lossy(&body[..body.len().min(512)])
            .trim()
            .to_string()
    } else {
        entries
            .iter()
            .map(|e| format!("{}: {}", e.code, e.message))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let message = escape(&message).into_owned();
    let unauthorized = |status| Error::Unauthorized {
        registry: reference.registry().to_string(),
        repository: reference.repository().to_string(),
        status,
        detail: message.clone(),
    };
    let not_found = |what| Error::NotFound {
        what,
        reference: reference.to_string(),
    };
    match (status, code) {
        (401, _) | (_, "UNAUTHORIZED") => unauthorized(401),
        (403, _) | (_, "DENIED") => unauthorized(403),
        (_, "NAME_UNKNOWN") => not_found("repository"),
        (_, "MANIFEST_UNKNOWN") => not_found("tag or manifest"),
        (_, "BLOB_UNKNOWN") => not_found("blob"),
        (404, _) => not_found(what),
        _ => Error::Registry {
            registry: reference.registry().to_string(),
            detail: format!("{url}: HTTP {status}: {message}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> OciReference {
        "oci://127.0.0.1:5000/wasm/x:1".parse().unwrap()
    }

    #[test]
    fn statuses_and_envelopes_map_to_errors_with_escaped_messages() {
        let envelope = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no"}]}"#;
        let e = status_error(404, envelope, &reference(), "blob", "u");
        assert!(
            matches!(
                e,
                Error::NotFound {
                    what: "tag or manifest",
                    ..
                }
            ),
            "{e}"
        );
        let e = status_error(404, b"", &reference(), "blob", "u");
        assert!(matches!(e, Error::NotFound { what: "blob", .. }), "{e}");
        let e = status_error(403, b"", &reference(), "blob", "u");
        assert!(matches!(e, Error::Unauthorized { status: 403, .. }), "{e}");
        let forged = br#"{"errors":[{"code":"X","message":"a\n2026 deployed: yes"}]}"#;
        let e = status_error(500, forged, &reference(), "blob", "u");
        assert_eq!(e.code(), "oci::registry");
        assert!(!e.to_string().contains('\n'), "{e}");
        assert!(e.to_string().contains("a\\n2026 deployed"), "{e}");
    }
}
