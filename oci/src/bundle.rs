//! Bundles as OCI artifacts: one image manifest per bundle, so a whole release travels, is pinned
//! and is signed as one digest.
//!
//! ```text
//! manifest  application/vnd.oci.image.manifest.v1+json
//!   artifactType  application/vnd.mod-wasm.bundle.v1+json
//!   config        application/vnd.mod-wasm.bundle.v1+json   the bundle's bundle.lock, byte for byte
//!   layers[]      application/wasm, one per module, annotated
//!                 org.opencontainers.image.title = NAME.wasm
//! ```
//!
//! No `.cwasm` travels: native code is compiled (or taken from a verified cache) on each host.
//! Manifests carry no timestamp, so pushing the same bundle twice yields the same digest.
//!
//! Pulling is by digest only ([`OciClient::resolve_digest`] turns a tag into one first): the
//! manifest must hash to that digest, the config and every layer to the digests the manifest
//! names (and their declared sizes), each verified into the content-addressed cache before
//! anything uses it. The manifest is read up to 4 MiB, the config (`bundle.lock`) is never
//! requested when it declares more than that, nor a layer above the module-size limit.
//!
//! [`OciClient::resolve_digest`]: crate::OciClient::resolve_digest

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::cache::Cache;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::media::{CNCF_WASM_LAYER, OCI_MANIFEST};
use crate::reference::OciReference;
use crate::registry::Transport;

/// The artifact type of a bundle, and the media type of its config (`bundle.lock`).
pub const BUNDLE_ARTIFACT_TYPE: &str = "application/vnd.mod-wasm.bundle.v1+json";
/// The annotation naming a layer's file.
pub const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";

/// One module of a bundle to push: its file name (`NAME.wasm`) and bytes.
#[derive(Debug, Clone)]
pub struct BundleModule {
    /// `NAME.wasm`: the layer's title.
    pub title: String,
    /// The module's bytes.
    pub bytes: Vec<u8>,
}

/// A layer of a bundle as its manifest names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleLayer {
    /// `NAME.wasm`.
    pub title: String,
    /// The layer's digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// What [`crate::OciClient::push_bundle`] wrote.
#[derive(Debug, Clone)]
pub struct PushedBundle {
    /// The reference pushed to.
    pub reference: OciReference,
    /// The manifest's digest: what hosts deploy, what `sign` signs.
    pub manifest_digest: Digest,
    /// The config blob's (bundle.lock's) digest.
    pub config_digest: Digest,
    /// The module layers.
    pub layers: Vec<BundleLayer>,
}

/// A bundle pulled and verified into the cache.
#[derive(Debug, Clone)]
pub struct PulledBundle {
    /// The reference, pinned to the manifest digest.
    pub reference: OciReference,
    /// The manifest digest.
    pub manifest_digest: Digest,
    /// The config blob: `bundle.lock`, byte for byte.
    pub config: Vec<u8>,
    /// The config blob's digest.
    pub config_digest: Digest,
    /// Each module layer and its verified blob in the cache.
    pub layers: Vec<(BundleLayer, PathBuf)>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBundleManifest {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    artifact_type: Option<String>,
    config: Option<RawDescriptor>,
    #[serde(default)]
    layers: Vec<RawDescriptor>,
}

/// The manifest bytes of a bundle whose config is `config` and whose layers are `layers`.
pub fn bundle_manifest(config: &[u8], layers: &[BundleLayer]) -> Vec<u8> {
    let layers: Vec<_> = layers
        .iter()
        .map(|l| {
            serde_json::json!({
                "mediaType": CNCF_WASM_LAYER,
                "digest": l.digest.to_string(),
                "size": l.size,
                "annotations": {TITLE_ANNOTATION: l.title},
            })
        })
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE_ARTIFACT_TYPE,
        "config": {
            "mediaType": BUNDLE_ARTIFACT_TYPE,
            "digest": Digest::of(config).to_string(),
            "size": config.len(),
        },
        "layers": layers,
    });
    serde_json::to_vec(&manifest).expect("manifest serialises")
}

/// A valid layer title: `NAME.wasm`, one plain file name.
fn valid_title(title: &str) -> bool {
    title
        .strip_suffix(".wasm")
        .is_some_and(|stem| !stem.is_empty() && !stem.starts_with('.'))
        && !title.contains(['/', '\\', '\0'])
}

/// Interprets manifest bytes as a bundle: the config descriptor and every module layer.
pub fn parse_bundle_manifest(
    bytes: &[u8],
    reference: &str,
) -> Result<(BundleLayer, Vec<BundleLayer>)> {
    let not_a_bundle = |detail: String| Error::NotABundle {
        reference: reference.to_string(),
        detail,
    };
    let raw: RawBundleManifest = serde_json::from_slice(bytes)
        .map_err(|e| not_a_bundle(format!("its manifest is not an OCI image manifest: {e}")))?;
    match raw.media_type.as_deref() {
        None | Some(OCI_MANIFEST) => {}
        Some(other) => {
            return Err(not_a_bundle(format!(
                "its manifest has media type {}, expected {OCI_MANIFEST}",
                crate::untrusted::escape(other)
            )));
        }
    }
    let config = raw
        .config
        .ok_or_else(|| not_a_bundle("its manifest has no config".into()))?;
    let artifact = raw.artifact_type.as_deref().unwrap_or(&config.media_type);
    if artifact != BUNDLE_ARTIFACT_TYPE || config.media_type != BUNDLE_ARTIFACT_TYPE {
        return Err(not_a_bundle(format!(
            "artifact type {}, config type {}; a bundle has {BUNDLE_ARTIFACT_TYPE} for both",
            crate::untrusted::escape(artifact),
            crate::untrusted::escape(&config.media_type)
        )));
    }
    let digest = |d: &RawDescriptor, what: &str| {
        d.digest
            .parse::<Digest>()
            .map_err(|e| not_a_bundle(format!("{what}: {e}")))
    };
    let config = BundleLayer {
        title: "bundle.lock".into(),
        digest: digest(&config, "config")?,
        size: config.size,
    };
    let mut layers = Vec::new();
    for (i, layer) in raw.layers.iter().enumerate() {
        if layer.media_type != CNCF_WASM_LAYER {
            return Err(not_a_bundle(format!(
                "layer {i} has media type {}, expected {CNCF_WASM_LAYER}",
                crate::untrusted::escape(&layer.media_type)
            )));
        }
        let title = layer
            .annotations
            .get(TITLE_ANNOTATION)
            .filter(|t| valid_title(t))
            .ok_or_else(|| {
                not_a_bundle(format!(
                    "layer {i} has no {TITLE_ANNOTATION} annotation naming a NAME.wasm file"
                ))
            })?;
        if layers.iter().any(|l: &BundleLayer| &l.title == title) {
            return Err(not_a_bundle(format!("two layers are titled {title}")));
        }
        layers.push(BundleLayer {
            title: title.clone(),
            digest: digest(layer, &format!("layer {title}"))?,
            size: layer.size,
        });
    }
    Ok((config, layers))
}

pub(crate) async fn push_bundle(
    transport: &Transport,
    config: Vec<u8>,
    modules: Vec<BundleModule>,
    reference: &OciReference,
) -> Result<PushedBundle> {
    let reference_text = reference.to_string();
    let mut layers = Vec::new();
    for module in &modules {
        if !valid_title(&module.title)
            || layers.iter().any(|l: &BundleLayer| l.title == module.title)
        {
            return Err(Error::NotABundle {
                reference: reference_text,
                detail: format!("`{}` is not a unique NAME.wasm title", module.title),
            });
        }
        crate::push::check_wasm(std::path::Path::new(&module.title), &module.bytes)?;
        layers.push(BundleLayer {
            title: module.title.clone(),
            digest: Digest::of(&module.bytes),
            size: module.bytes.len() as u64,
        });
    }
    let manifest = bundle_manifest(&config, &layers);
    let manifest_digest = Digest::of(&manifest);
    if let Some(pinned) = reference.digest()
        && *pinned != manifest_digest
    {
        return Err(Error::DigestMismatch {
            what: format!("bundle pushed to {reference}"),
            expected: pinned.to_string(),
            actual: manifest_digest.to_string(),
        });
    }
    for (module, layer) in modules.into_iter().zip(&layers) {
        transport
            .push_blob(reference, module.bytes, &layer.digest)
            .await?;
    }
    let config_digest = Digest::of(&config);
    transport
        .push_blob(reference, config, &config_digest)
        .await?;
    transport
        .push_manifest(reference, manifest, OCI_MANIFEST)
        .await?;
    Ok(PushedBundle {
        reference: reference.clone(),
        manifest_digest,
        config_digest,
        layers,
    })
}

/// Downloads blob `layer` of `pinned`'s repository into the cache (verified digest and size),
/// unless the cache already has it; a declared size above `limit` is refused first.
pub(crate) async fn fetch_verified(
    transport: &Transport,
    cache: &Cache,
    pinned: &OciReference,
    layer: &BundleLayer,
    limit: u64,
) -> Result<PathBuf> {
    let what = format!("{} of {pinned}", layer.title);
    crate::bounds::check_declared(layer.size, limit, pinned.registry(), &what)?;
    if let Some(path) = cache.get(&layer.digest)? {
        return Ok(path);
    }
    let mut writer = cache.writer_sized(&layer.digest, Some(layer.size), &what)?;
    transport
        .fetch_blob(
            pinned,
            &layer.digest,
            layer.size,
            limit,
            &what,
            &mut writer,
            &|_| {},
        )
        .await?;
    writer.commit()
}

pub(crate) async fn pull_bundle(
    transport: &Transport,
    cache: &Cache,
    reference: &OciReference,
) -> Result<PulledBundle> {
    let Some(manifest_digest) = reference.digest().cloned() else {
        return Err(Error::InvalidReference {
            input: reference.to_string(),
            reason: "a bundle is pulled by digest: resolve the tag first".into(),
        });
    };
    let pinned = reference.with_digest(manifest_digest.clone());
    let (bytes, _) = transport.fetch_manifest(&pinned).await?;
    let (config, layers) = parse_bundle_manifest(&bytes, &pinned.to_string())?;
    let config_path = fetch_verified(
        transport,
        cache,
        &pinned,
        &config,
        crate::bounds::MAX_MANIFEST_SIZE,
    )
    .await?;
    let config_bytes = std::fs::read(&config_path).map_err(|e| Error::io(&config_path, e))?;
    if Digest::of(&config_bytes) != config.digest {
        return Err(Error::DigestMismatch {
            what: format!("bundle.lock of {pinned}"),
            expected: config.digest.to_string(),
            actual: Digest::of(&config_bytes).to_string(),
        });
    }
    let mut pulled = Vec::new();
    for layer in layers {
        let path =
            fetch_verified(transport, cache, &pinned, &layer, transport.max_blob_size()).await?;
        pulled.push((layer, path));
    }
    Ok(PulledBundle {
        reference: pinned,
        manifest_digest,
        config: config_bytes,
        config_digest: config.digest,
        layers: pulled,
    })
}

/// The media type a manifest declares (OCI image manifest when it declares none).
pub(crate) fn manifest_media_type(bytes: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| {
            v.get("mediaType")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| OCI_MANIFEST.to_string())
}

/// Points `tag` of `reference`'s repository at the manifest `reference` pins (the same bytes,
/// so the same digest).
pub(crate) async fn tag(
    transport: &Transport,
    reference: &OciReference,
    tag: &str,
) -> Result<(OciReference, Digest)> {
    if reference.digest().is_none() {
        return Err(Error::InvalidReference {
            input: reference.to_string(),
            reason: "tag a digest: oci://REGISTRY/REPO@sha256:…".into(),
        });
    }
    let target = reference.with_tag(tag);
    // Validates the tag's spelling the way every reference is validated.
    OciReference::parse(&target.to_string())?;
    let (bytes, digest) = transport.fetch_manifest(reference).await?;
    let media_type = manifest_media_type(&bytes);
    transport.push_manifest(&target, bytes, &media_type).await?;
    Ok((target, digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODULE: &[u8] = b"\0asm\x01\0\0\0";

    fn layer(title: &str) -> BundleLayer {
        BundleLayer {
            title: title.into(),
            digest: Digest::of(MODULE),
            size: MODULE.len() as u64,
        }
    }

    #[test]
    fn manifest_round_trips_and_is_deterministic() {
        let config = b"{\"format\":\"mod-wasm-bundle/1\"}\n";
        let layers = vec![layer("hello.wasm"), layer("echo.wasm")];
        let m = bundle_manifest(config, &layers);
        assert_eq!(m, bundle_manifest(config, &layers));
        let v: serde_json::Value = serde_json::from_slice(&m).unwrap();
        assert_eq!(v["artifactType"], BUNDLE_ARTIFACT_TYPE);
        assert_eq!(v["config"]["mediaType"], BUNDLE_ARTIFACT_TYPE);
        assert_eq!(v["layers"][1]["annotations"][TITLE_ANNOTATION], "echo.wasm");
        assert_eq!(v["layers"][0]["mediaType"], "application/wasm");
        let (c, parsed) = parse_bundle_manifest(&m, "oci://r.example/x:1").unwrap();
        assert_eq!(c.digest, Digest::of(config));
        assert_eq!(parsed, layers);
    }

    #[test]
    fn module_artifacts_and_odd_layers_are_not_bundles() {
        let module = crate::push::manifest(
            b"{}",
            "application/vnd.wasm.config.v0+json",
            MODULE,
            "application/wasm",
        );
        let err = parse_bundle_manifest(&module, "oci://r.example/x:1").unwrap_err();
        assert_eq!(err.code(), "oci::not-a-bundle");
        for title in ["../evil.wasm", "x.cwasm", ".wasm", "a/b.wasm"] {
            let m = bundle_manifest(b"{}", &[layer(title)]);
            let err = parse_bundle_manifest(&m, "oci://r.example/x:1").unwrap_err();
            assert!(matches!(err, Error::NotABundle { .. }), "{title}: {err}");
        }
        let dup = bundle_manifest(b"{}", &[layer("a.wasm"), layer("a.wasm")]);
        assert!(parse_bundle_manifest(&dup, "oci://r.example/x:1").is_err());
    }
}
