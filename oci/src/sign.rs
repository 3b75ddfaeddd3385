//! Signatures the way cosign stores and checks key-based ones ("simple signing"):
//!
//! - the payload signed is cosign's JSON:
//!   `{"critical":{"identity":{"docker-reference":"REGISTRY/REPO"},"image":{"docker-manifest-digest":"sha256:…"},"type":"cosign container image signature"},"optional":null}`;
//! - the signature is ECDSA P-256 over SHA-256 of the payload, ASN.1 DER, base64 in the
//!   `dev.cosignproject.cosign/signature` annotation of a layer of media type
//!   `application/vnd.dev.cosign.simplesigning.v1+json` whose blob is the payload;
//! - those layers live in an image tagged `sha256-<hex>.sig` in the artifact's repository
//!   (one layer per signature; signing again with another key adds a layer). The manifest also
//!   names the signed artifact as its OCI 1.1 `subject`, so registries with the referrers API
//!   list it there too.
//!
//! Keys are standard PEM: a PKCS#8 private key (`openssl pkcs8 -topk8 -nocrypt`) or SEC1
//! (`BEGIN EC PRIVATE KEY`), and an SPKI public key (`BEGIN PUBLIC KEY`, what `cosign verify
//! --key` takes). Verification requires a signature whose payload names exactly the digest
//! being deployed; the payload's `docker-reference` is not required to match (so a bundle
//! copied to a mirror keeps its signatures).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};

use crate::bundle::{BundleLayer, fetch_verified, manifest_media_type};
use crate::cache::Cache;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::media::{OCI_IMAGE_CONFIG, OCI_MANIFEST};
use crate::reference::OciReference;
use crate::registry::Transport;

/// The media type of a signature layer (its blob is the payload).
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The annotation holding the base64 DER signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The payload's `critical.type`.
pub const PAYLOAD_TYPE: &str = "cosign container image signature";
/// Payloads larger than this are refused unread.
const MAX_PAYLOAD: u64 = 64 * 1024;

/// A private key that signs.
pub struct PrivateKey {
    key: SigningKey,
    path: PathBuf,
}

/// A public key that verifies.
#[derive(Clone)]
pub struct PublicKey {
    key: VerifyingKey,
    path: PathBuf,
}

fn key_error(path: &Path, detail: impl Into<String>) -> Error {
    Error::Key {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

fn read_pem(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| key_error(path, e.to_string()))?;
    Ok(text)
}

impl PrivateKey {
    /// Reads a PEM ECDSA P-256 private key (PKCS#8, or SEC1 `EC PRIVATE KEY`).
    pub fn from_pem_file(path: &Path) -> Result<PrivateKey> {
        let text = read_pem(path)?;
        PrivateKey::from_pem(&text, path)
    }

    /// Parses PEM text; `path` names it in errors.
    pub fn from_pem(text: &str, path: &Path) -> Result<PrivateKey> {
        let key = if text.contains("BEGIN PRIVATE KEY") {
            SigningKey::from_pkcs8_pem(text).map_err(|e| {
                key_error(path, format!("not a PKCS#8 ECDSA P-256 private key: {e}"))
            })?
        } else if text.contains("BEGIN EC PRIVATE KEY") {
            let secret = p256::SecretKey::from_sec1_pem(text)
                .map_err(|e| key_error(path, format!("not a SEC1 ECDSA P-256 private key: {e}")))?;
            SigningKey::from(secret)
        } else if text.contains("ENCRYPTED") {
            return Err(key_error(
                path,
                "encrypted private keys are not read: decrypt it to PKCS#8 PEM (openssl pkcs8 -topk8 -nocrypt)",
            ));
        } else {
            return Err(key_error(
                path,
                "no PEM private key (expected -----BEGIN PRIVATE KEY-----)",
            ));
        };
        Ok(PrivateKey {
            key,
            path: path.to_path_buf(),
        })
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            key: *self.key.verifying_key(),
            path: self.path.clone(),
        }
    }

    /// The DER signature of `payload` (ECDSA P-256, SHA-256; deterministic, RFC 6979).
    pub fn sign_der(&self, payload: &[u8]) -> Vec<u8> {
        let signature: Signature = self.key.sign(payload);
        signature.to_der().as_bytes().to_vec()
    }
}

impl PublicKey {
    /// Reads a PEM SPKI public key (`-----BEGIN PUBLIC KEY-----`).
    pub fn from_pem_file(path: &Path) -> Result<PublicKey> {
        let text = read_pem(path)?;
        PublicKey::from_pem(&text, path)
    }

    /// Parses PEM text; `path` names it in errors.
    pub fn from_pem(text: &str, path: &Path) -> Result<PublicKey> {
        if !text.contains("BEGIN PUBLIC KEY") {
            return Err(key_error(
                path,
                "no PEM public key (expected -----BEGIN PUBLIC KEY-----)",
            ));
        }
        let key = VerifyingKey::from_public_key_pem(text)
            .map_err(|e| key_error(path, format!("not an ECDSA P-256 public key: {e}")))?;
        Ok(PublicKey {
            key,
            path: path.to_path_buf(),
        })
    }

    /// The key file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `der` is a valid signature of `payload` by this key (high-S accepted, as
    /// OpenSSL and Go produce them).
    pub fn verify_der(&self, payload: &[u8], der: &[u8]) -> std::result::Result<(), String> {
        let signature =
            Signature::from_der(der).map_err(|e| format!("not a DER ECDSA signature: {e}"))?;
        let signature = signature.normalize_s().unwrap_or(signature);
        self.key
            .verify(payload, &signature)
            .map_err(|_| "the signature does not verify with this key".to_string())
    }
}

/// The tag cosign stores the signatures of `digest` under: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &Digest) -> String {
    format!("sha256-{}.sig", digest.hex())
}

/// Cosign's simple-signing payload for `digest` in `reference`'s repository.
pub fn payload(reference: &OciReference, digest: &Digest) -> Vec<u8> {
    let value = serde_json::json!({
        "critical": {
            "identity": {"docker-reference": format!("{}/{}", reference.registry(), reference.repository())},
            "image": {"docker-manifest-digest": digest.to_string()},
            "type": PAYLOAD_TYPE,
        },
        "optional": null,
    });
    serde_json::to_vec(&value).expect("payload serialises")
}

/// Checks a payload names `digest` and is a cosign image signature.
fn check_payload(bytes: &[u8], digest: &Digest) -> std::result::Result<(), String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("payload is not JSON: {e}"))?;
    let critical = &value["critical"];
    if critical["type"].as_str() != Some(PAYLOAD_TYPE) {
        return Err(format!(
            "payload type is {}, not `{PAYLOAD_TYPE}`",
            critical["type"]
        ));
    }
    match critical["image"]["docker-manifest-digest"].as_str() {
        Some(d) if d == digest.to_string() => Ok(()),
        Some(d) => Err(format!("the signature covers {d}, not {digest}")),
        None => Err("payload names no docker-manifest-digest".into()),
    }
}

/// What signing wrote.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The signed artifact, pinned.
    pub reference: OciReference,
    /// Where the signature image is (`…:sha256-<hex>.sig`).
    pub signature: OciReference,
    /// The payload that was signed.
    pub payload: Vec<u8>,
    /// The base64 DER signature.
    pub signature_b64: String,
    /// Signatures now stored for the artifact.
    pub count: usize,
}

/// A successful verification.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The verified artifact, pinned.
    pub reference: OciReference,
    /// The signature image.
    pub signature: OciReference,
}

fn sig_config(layers: &[serde_json::Value]) -> Vec<u8> {
    let diff_ids: Vec<_> = layers.iter().map(|l| l["digest"].clone()).collect();
    serde_json::to_vec(&serde_json::json!({
        "architecture": "",
        "config": {},
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .expect("config serialises")
}

/// The existing signature manifest's layers, or none.
async fn existing_layers(
    transport: &Transport,
    sig_ref: &OciReference,
) -> Result<Option<Vec<serde_json::Value>>> {
    match transport.fetch_manifest(sig_ref).await {
        Ok((bytes, _)) => {
            let value: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| Error::Registry {
                    registry: sig_ref.registry().to_string(),
                    detail: format!("signature manifest {sig_ref} is not JSON: {e}"),
                })?;
            Ok(Some(
                value["layers"].as_array().cloned().unwrap_or_default(),
            ))
        }
        Err(Error::NotFound { .. }) => Ok(None),
        Err(Error::TooLarge {
            registry,
            limit,
            declared,
            ..
        }) => Err(Error::TooLarge {
            registry,
            what: format!("the signature manifest {sig_ref}"),
            limit,
            declared,
        }),
        Err(e) => Err(e),
    }
}

pub(crate) async fn sign(
    transport: &Transport,
    reference: &OciReference,
    key: &PrivateKey,
) -> Result<Signed> {
    let Some(digest) = reference.digest().cloned() else {
        return Err(Error::InvalidReference {
            input: reference.to_string(),
            reason: "sign a digest: oci://REGISTRY/REPO@sha256:…".into(),
        });
    };
    let pinned = reference.with_digest(digest.clone());
    // The artifact must exist (and match its digest) before it is vouched for.
    let (subject_bytes, _) = transport.fetch_manifest(&pinned).await?;
    let payload = payload(&pinned, &digest);
    let signature_b64 = base64::engine::general_purpose::STANDARD.encode(key.sign_der(&payload));
    let sig_ref = pinned.with_tag(&signature_tag(&digest));
    let payload_digest = Digest::of(&payload);
    let layer = serde_json::json!({
        "mediaType": SIMPLE_SIGNING,
        "digest": payload_digest.to_string(),
        "size": payload.len(),
        "annotations": {SIGNATURE_ANNOTATION: signature_b64},
    });
    let mut layers = existing_layers(transport, &sig_ref)
        .await?
        .unwrap_or_default();
    if !layers.contains(&layer) {
        layers.push(layer);
    }
    transport
        .push_blob(&pinned, payload.clone(), &payload_digest)
        .await?;
    let config = sig_config(&layers);
    let config_digest = Digest::of(&config);
    let config_len = config.len();
    transport.push_blob(&pinned, config, &config_digest).await?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_IMAGE_CONFIG, "digest": config_digest.to_string(), "size": config_len},
        "layers": layers,
        "subject": {
            "mediaType": manifest_media_type(&subject_bytes),
            "digest": digest.to_string(),
            "size": subject_bytes.len(),
        },
    });
    let count = layers.len();
    transport
        .push_manifest(
            &sig_ref,
            serde_json::to_vec(&manifest).expect("manifest serialises"),
            OCI_MANIFEST,
        )
        .await?;
    Ok(Signed {
        reference: pinned,
        signature: sig_ref,
        payload,
        signature_b64,
        count,
    })
}

pub(crate) async fn verify(
    transport: &Transport,
    cache: &Cache,
    reference: &OciReference,
    key: &PublicKey,
) -> Result<Verified> {
    let Some(digest) = reference.digest().cloned() else {
        return Err(Error::InvalidReference {
            input: reference.to_string(),
            reason: "verify a digest: oci://REGISTRY/REPO@sha256:…".into(),
        });
    };
    let pinned = reference.with_digest(digest.clone());
    let sig_ref = pinned.with_tag(&signature_tag(&digest));
    let unsigned = || Error::Unsigned {
        reference: pinned.to_string(),
        signature: sig_ref.to_string(),
    };
    let Some(layers) = existing_layers(transport, &sig_ref).await? else {
        return Err(unsigned());
    };
    let mut reasons = Vec::new();
    let mut any = false;
    for (i, layer) in layers.iter().enumerate() {
        if layer["mediaType"].as_str() != Some(SIMPLE_SIGNING) {
            continue;
        }
        any = true;
        let outcome = check_layer(transport, cache, &pinned, &digest, key, layer).await;
        match outcome {
            Ok(()) => {
                return Ok(Verified {
                    reference: pinned,
                    signature: sig_ref,
                });
            }
            Err(why) => reasons.push(format!("signature {}: {why}", i + 1)),
        }
    }
    if !any {
        return Err(unsigned());
    }
    Err(Error::BadSignature {
        reference: pinned.to_string(),
        key: key.path().display().to_string(),
        reasons,
    })
}

async fn check_layer(
    transport: &Transport,
    cache: &Cache,
    pinned: &OciReference,
    digest: &Digest,
    key: &PublicKey,
    layer: &serde_json::Value,
) -> std::result::Result<(), String> {
    let b64 = layer["annotations"][SIGNATURE_ANNOTATION]
        .as_str()
        .ok_or("no signature annotation")?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| format!("signature is not base64: {e}"))?;
    let size = layer["size"].as_u64().ok_or("layer has no size")?;
    if size > MAX_PAYLOAD {
        return Err(format!("payload of {size} bytes is too large"));
    }
    let payload_digest: Digest = layer["digest"]
        .as_str()
        .ok_or("layer has no digest")?
        .parse()
        .map_err(|e: String| e)?;
    let descriptor = BundleLayer {
        title: "signature payload".into(),
        digest: payload_digest,
        size,
    };
    // The payload is verified against its digest on the way into the cache.
    let path = fetch_verified(transport, cache, pinned, &descriptor, MAX_PAYLOAD)
        .await
        .map_err(|e| e.to_string())?;
    let payload = std::fs::read(&path).map_err(|e| e.to_string())?;
    check_payload(&payload, digest)?;
    key.verify_der(&payload, &der)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Generated with: openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt
    const PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgYmFvbd0PejPqVtWh
37RxsKt7121GK7SNf+1P4Taglv2hRANCAAQlor/fkyP5GVjTvaqYLcu+nYrwHm9R
5P9wG70l7vR3BBUMcUVYa0PANW3EYrV6I2BNR1xA5Xig2oABUbRrOgfa
-----END PRIVATE KEY-----
";
    // openssl ec -pubout of the key above.
    const SPKI: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEJaK/35Mj+RlY072qmC3Lvp2K8B5v
UeT/cBu9Je70dwQVDHFFWGtDwDVtxGK1eiNgTUdcQOV4oNqAAVG0azoH2g==
-----END PUBLIC KEY-----
";

    fn digest() -> Digest {
        Digest::of(b"bundle manifest")
    }

    #[test]
    fn payload_is_cosigns_simple_signing_json() {
        let r: OciReference = "oci://127.0.0.1:5000/fleet/app:stable".parse().unwrap();
        let p = payload(&r, &digest());
        assert_eq!(
            String::from_utf8(p).unwrap(),
            format!(
                "{{\"critical\":{{\"identity\":{{\"docker-reference\":\"127.0.0.1:5000/fleet/app\"}},\"image\":{{\"docker-manifest-digest\":\"{}\"}},\"type\":\"cosign container image signature\"}},\"optional\":null}}",
                digest()
            )
        );
        assert_eq!(
            signature_tag(&digest()),
            format!("sha256-{}.sig", digest().hex())
        );
    }

    #[test]
    fn pem_keys_sign_and_verify_and_other_keys_do_not() {
        let private = PrivateKey::from_pem(PKCS8, Path::new("k.pem")).unwrap();
        let public = PublicKey::from_pem(SPKI, Path::new("k.pub")).unwrap();
        let r: OciReference = "oci://127.0.0.1:5000/fleet/app:stable".parse().unwrap();
        let p = payload(&r, &digest());
        let der = private.sign_der(&p);
        assert!(public.verify_der(&p, &der).is_ok());
        assert!(public.verify_der(b"other payload", &der).is_err());
        let other = PrivateKey {
            key: SigningKey::from_slice(&[7u8; 32]).unwrap(),
            path: "o.pem".into(),
        };
        assert!(public.verify_der(&p, &other.sign_der(&p)).is_err());
        assert!(check_payload(&p, &digest()).is_ok());
        assert!(check_payload(&p, &Digest::of(b"another")).is_err());
    }

    // Made by OpenSSL, independently of this crate:
    //   openssl dgst -sha256 -sign k.pem payload.json | base64 -w0
    // over the payload of `payload_is_cosigns_simple_signing_json`; and `openssl dgst -sha256
    // -verify k.pub` accepts the signatures this crate makes (tests/e2e/test_fleet.py).
    const OPENSSL_SIGNATURE: &str = "MEYCIQDPISQ78nNd4QyhjxB6CMvYaY2q+dTUpJLC2KSmTTVRCgIhAIzYxXW9CyibviD7dadN/XA+iwVC9X7ufzL4jMoa6zib";

    #[test]
    fn a_signature_made_by_openssl_verifies() {
        let public = PublicKey::from_pem(SPKI, Path::new("k.pub")).unwrap();
        let r: OciReference = "oci://127.0.0.1:5000/fleet/app:stable".parse().unwrap();
        let der = base64::engine::general_purpose::STANDARD
            .decode(OPENSSL_SIGNATURE)
            .unwrap();
        assert_eq!(public.verify_der(&payload(&r, &digest()), &der), Ok(()));
        let mut tampered = payload(&r, &digest());
        tampered[10] ^= 1;
        assert!(public.verify_der(&tampered, &der).is_err());
    }

    #[test]
    fn wrong_pem_kinds_are_key_errors() {
        assert_eq!(
            PrivateKey::from_pem(SPKI, Path::new("x"))
                .err()
                .unwrap()
                .code(),
            "oci::key"
        );
        assert_eq!(
            PublicKey::from_pem(PKCS8, Path::new("x"))
                .err()
                .unwrap()
                .code(),
            "oci::key"
        );
    }
}
