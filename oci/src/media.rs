//! Media types and the layouts accepted on pull: which manifest, config and layer types make a
//! Wasm module, how an image index is narrowed to its `wasi`/`wasm` entry, and the
//! exactly-one-Wasm-layer rule.

use serde::Deserialize;

use crate::digest::Digest;
use crate::error::Error;
use crate::untrusted::escape;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker v2 schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// CNCF Wasm artifact config (the layout `push` writes).
pub const CNCF_WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// CNCF Wasm artifact layer.
pub const CNCF_WASM_LAYER: &str = "application/wasm";
/// wasm-to-oci config (the `--legacy-media-types` layout).
pub const LEGACY_WASM_CONFIG: &str = "application/vnd.wasm.config.v1+json";
/// wasm-to-oci layer, also used by Spin.
pub const LEGACY_WASM_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// OCI image config (Spin-style artifacts).
pub const OCI_IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker image config.
pub const DOCKER_IMAGE_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// Manifest media types asked for in `Accept`.
pub const ACCEPTED_MANIFESTS: &[&str] = &[
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];
/// Config media types of the accepted layouts.
pub const ACCEPTED_CONFIGS: &[&str] = &[
    CNCF_WASM_CONFIG,
    LEGACY_WASM_CONFIG,
    OCI_IMAGE_CONFIG,
    DOCKER_IMAGE_CONFIG,
];
/// Layer media types that hold a Wasm module.
pub const WASM_LAYERS: &[&str] = &[CNCF_WASM_LAYER, LEGACY_WASM_LAYER];

/// A content descriptor, as in manifests.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the content.
    pub media_type: String,
    /// Its digest (kept as text: validated when used).
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// Platform, for index entries.
    #[serde(default)]
    pub platform: Option<Platform>,
}

/// Platform of an index entry.
#[derive(Debug, Clone, Deserialize)]
pub struct Platform {
    /// e.g. `wasm`, `amd64`.
    #[serde(default)]
    pub architecture: String,
    /// e.g. `wasip1`, `wasi`, `linux`.
    #[serde(default)]
    pub os: String,
}

/// A manifest or an index, as far as pulling needs it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

/// What a fetched manifest turned out to be.
#[derive(Debug)]
pub enum Parsed {
    /// An image index: pull the given entry next.
    Index {
        /// The `wasi`/`wasm` entry chosen.
        entry: Descriptor,
    },
    /// An image manifest with exactly one Wasm layer.
    Image {
        /// The Wasm layer.
        layer: Descriptor,
        /// Its digest, validated.
        layer_digest: Digest,
    },
}

/// Interprets manifest bytes fetched for `reference` (used in error messages) and applies the
/// layout rules: accepted manifest and config types, index narrowed to its wasi/wasm entry,
/// exactly one Wasm layer.
pub fn parse_manifest(
    bytes: &[u8],
    content_type: Option<&str>,
    reference: &str,
) -> Result<Parsed, Error> {
    let raw: RawManifest = serde_json::from_slice(bytes).map_err(|e| Error::Registry {
        registry: registry_of(reference),
        detail: format!("manifest of {reference} is not valid JSON: {e}"),
    })?;
    let media_type = raw
        .media_type
        .clone()
        .or_else(|| content_type.map(str::to_string))
        .unwrap_or_else(|| {
            if raw.manifests.is_some() {
                OCI_INDEX
            } else {
                OCI_MANIFEST
            }
            .to_string()
        });
    let media_type = media_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    match media_type.as_str() {
        OCI_INDEX | DOCKER_MANIFEST_LIST => {
            let entries = raw.manifests.unwrap_or_default();
            select_index_entry(entries, reference).map(|entry| Parsed::Index { entry })
        }
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let config = raw.config.ok_or_else(|| Error::Registry {
                registry: registry_of(reference),
                detail: format!("manifest of {reference} has no config"),
            })?;
            if !ACCEPTED_CONFIGS.contains(&config.media_type.as_str()) {
                return Err(Error::UnexpectedMediaType {
                    kind: "config",
                    found: escape(&config.media_type).into_owned(),
                    accepted: ACCEPTED_CONFIGS.iter().map(|s| s.to_string()).collect(),
                    reference: reference.to_string(),
                });
            }
            let layers = raw.layers.unwrap_or_default();
            let layer = select_wasm_layer(layers, reference)?;
            let layer_digest = layer
                .digest
                .parse::<Digest>()
                .map_err(|e| Error::Registry {
                    registry: registry_of(reference),
                    detail: format!("Wasm layer of {reference}: {e}"),
                })?;
            Ok(Parsed::Image {
                layer,
                layer_digest,
            })
        }
        other => Err(Error::UnexpectedMediaType {
            kind: "manifest",
            found: escape(other).into_owned(),
            accepted: ACCEPTED_MANIFESTS.iter().map(|s| s.to_string()).collect(),
            reference: reference.to_string(),
        }),
    }
}

fn select_wasm_layer(layers: Vec<Descriptor>, reference: &str) -> Result<Descriptor, Error> {
    let describe = |d: &Descriptor| escape(&format!("{} {}", d.media_type, d.digest)).into_owned();
    let (wasm, other): (Vec<_>, Vec<_>) = layers
        .into_iter()
        .partition(|l| WASM_LAYERS.contains(&l.media_type.as_str()));
    match wasm.len() {
        1 => Ok(wasm.into_iter().next().expect("one layer")),
        0 => Err(Error::NoWasmLayer {
            reference: reference.to_string(),
            found: other.iter().map(describe).collect(),
        }),
        _ => Err(Error::TooManyWasmLayers {
            reference: reference.to_string(),
            found: wasm.iter().map(describe).collect(),
        }),
    }
}

fn is_wasm_platform(p: &Platform) -> bool {
    p.architecture == "wasm" || p.os == "wasi" || p.os.starts_with("wasip")
}

fn select_index_entry(entries: Vec<Descriptor>, reference: &str) -> Result<Descriptor, Error> {
    let found: Vec<String> = entries
        .iter()
        .map(|e| match &e.platform {
            Some(p) => escape(&format!("{}/{}", p.os, p.architecture)).into_owned(),
            None => escape(&format!("(no platform) {}", e.digest)).into_owned(),
        })
        .collect();
    let entry = entries
        .into_iter()
        .find(|e| e.platform.as_ref().is_some_and(is_wasm_platform))
        .ok_or_else(|| Error::NoWasmPlatform {
            reference: reference.to_string(),
            found,
        })?;
    if !matches!(entry.media_type.as_str(), OCI_MANIFEST | DOCKER_MANIFEST) {
        return Err(Error::UnexpectedMediaType {
            kind: "index entry",
            found: escape(&entry.media_type).into_owned(),
            accepted: vec![OCI_MANIFEST.to_string(), DOCKER_MANIFEST.to_string()],
            reference: reference.to_string(),
        });
    }
    Ok(entry)
}

fn registry_of(reference: &str) -> String {
    reference
        .strip_prefix(crate::reference::SCHEME)
        .unwrap_or(reference)
        .split('/')
        .next()
        .unwrap_or("")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn image(config: &str, layers: &[(&str, &str)]) -> Vec<u8> {
        let layers: Vec<_> = layers
            .iter()
            .map(|(mt, d)| serde_json::json!({"mediaType": mt, "digest": d, "size": 3}))
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": config, "digest": D1, "size": 2},
            "layers": layers,
        }))
        .unwrap()
    }

    #[test]
    fn every_accepted_layout_yields_its_wasm_layer() {
        for (config, layer) in [
            (CNCF_WASM_CONFIG, CNCF_WASM_LAYER),
            (LEGACY_WASM_CONFIG, LEGACY_WASM_LAYER),
            (OCI_IMAGE_CONFIG, LEGACY_WASM_LAYER),
        ] {
            let bytes = image(config, &[(layer, D2)]);
            match parse_manifest(&bytes, None, "oci://r.example/x:1").unwrap() {
                Parsed::Image {
                    layer_digest,
                    layer: l,
                } => {
                    assert_eq!(layer_digest.to_string(), D2);
                    assert_eq!(l.media_type, layer);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn spin_style_extra_layers_are_ignored() {
        let bytes = image(
            OCI_IMAGE_CONFIG,
            &[
                (LEGACY_WASM_LAYER, D2),
                ("application/vnd.fermyon.spin.application.v1+config", D1),
            ],
        );
        assert!(matches!(
            parse_manifest(&bytes, None, "oci://r.example/x:1"),
            Ok(Parsed::Image { .. })
        ));
    }

    #[test]
    fn layer_count_rules_name_what_was_found() {
        let none = image(
            CNCF_WASM_CONFIG,
            &[("application/vnd.oci.image.layer.v1.tar", D1)],
        );
        let err = parse_manifest(&none, None, "oci://r.example/x:1").unwrap_err();
        assert!(matches!(err, Error::NoWasmLayer { .. }));
        assert!(
            err.to_string()
                .contains("application/vnd.oci.image.layer.v1.tar"),
            "{err}"
        );

        let two = image(
            CNCF_WASM_CONFIG,
            &[(CNCF_WASM_LAYER, D1), (CNCF_WASM_LAYER, D2)],
        );
        let err = parse_manifest(&two, None, "oci://r.example/x:1").unwrap_err();
        assert!(matches!(err, Error::TooManyWasmLayers { .. }));
        assert!(
            err.to_string().contains(D1) && err.to_string().contains(D2),
            "{err}"
        );
    }

    #[test]
    fn unknown_config_is_rejected() {
        let helm = image(
            "application/vnd.cncf.helm.config.v1+json",
            &[(CNCF_WASM_LAYER, D2)],
        );
        let err = parse_manifest(&helm, None, "oci://r.example/x:1").unwrap_err();
        assert!(
            matches!(err, Error::UnexpectedMediaType { kind: "config", .. }),
            "{err}"
        );
    }

    #[test]
    fn index_picks_the_wasm_entry() {
        let index = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": D1, "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},
                {"mediaType": OCI_MANIFEST, "digest": D2, "size": 1, "platform": {"os": "wasip1", "architecture": "wasm"}},
            ]
        });
        match parse_manifest(
            &serde_json::to_vec(&index).unwrap(),
            None,
            "oci://r.example/x:1",
        )
        .unwrap()
        {
            Parsed::Index { entry } => assert_eq!(entry.digest, D2),
            other => panic!("unexpected {other:?}"),
        }
        let linux_only = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": D1, "size": 1, "platform": {"os": "linux", "architecture": "arm64"}}]
        });
        let err = parse_manifest(
            &serde_json::to_vec(&linux_only).unwrap(),
            None,
            "oci://r.example/x:1",
        )
        .unwrap_err();
        assert!(err.to_string().contains("linux/arm64"), "{err}");
    }
}
