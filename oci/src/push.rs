//! Push: a `.wasm` file (a core module or a component) as an OCI artifact. The default is the
//! CNCF Wasm layout (config `application/vnd.wasm.config.v0+json` with `os` `wasip1` for a core
//! module, `wasip2` for a component, one `application/wasm` layer);
//! `Layout::Legacy` writes the wasm-to-oci layout for registries that reject the CNCF one.
//! Manifests carry no timestamp, so pushing the same module twice yields the same digest.

use crate::digest::Digest;
use crate::error::Error;
use crate::media::{
    CNCF_WASM_CONFIG, CNCF_WASM_LAYER, LEGACY_WASM_CONFIG, LEGACY_WASM_LAYER, OCI_MANIFEST,
};
use crate::reference::OciReference;
use crate::registry::Transport;

/// Which artifact layout to write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Layout {
    /// CNCF Wasm OCI artifact (config v0, layer `application/wasm`).
    #[default]
    Cncf,
    /// wasm-to-oci (config v1, layer `application/vnd.wasm.content.layer.v1+wasm`).
    Legacy,
}

/// What a push wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The reference pushed to.
    pub reference: OciReference,
    /// The manifest's digest: pin it with `oci://…@<digest>`.
    pub manifest_digest: Digest,
    /// The Wasm layer's digest.
    pub layer_digest: Digest,
    /// The Wasm layer's size.
    pub size: u64,
}

/// The config blob, layer media type and manifest bytes for `wasm` in `layout`.
pub(crate) fn artifact(wasm: &[u8], layout: Layout) -> (Vec<u8>, &'static str, &'static str) {
    let layer_digest = Digest::of(wasm);
    match layout {
        Layout::Cncf => {
            // A component (layer bytes 0d 00 01 00) targets WASI 0.2; a core module WASI 0.1.
            let os = if wasm.get(4..8) == Some(&[0x0d, 0x00, 0x01, 0x00]) {
                "wasip2"
            } else {
                "wasip1"
            };
            let config = serde_json::json!({
                "architecture": "wasm",
                "os": os,
                "layerDigests": [layer_digest.to_string()],
            });
            (
                serde_json::to_vec(&config).expect("config serialises"),
                CNCF_WASM_CONFIG,
                CNCF_WASM_LAYER,
            )
        }
        Layout::Legacy => (b"{}".to_vec(), LEGACY_WASM_CONFIG, LEGACY_WASM_LAYER),
    }
}

pub(crate) fn manifest(config: &[u8], config_type: &str, wasm: &[u8], layer_type: &str) -> Vec<u8> {
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": config_type, "digest": Digest::of(config).to_string(), "size": config.len()},
        "layers": [{"mediaType": layer_type, "digest": Digest::of(wasm).to_string(), "size": wasm.len()}],
    });
    serde_json::to_vec(&manifest).expect("manifest serialises")
}

/// Checks the Wasm magic number.
pub(crate) fn check_wasm(path: &std::path::Path, wasm: &[u8]) -> Result<(), Error> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err(Error::NotWasm {
            path: path.to_path_buf(),
            detail: "it does not start with the Wasm magic number \\0asm".to_string(),
        });
    }
    Ok(())
}

pub(crate) async fn push(
    transport: &Transport,
    wasm: Vec<u8>,
    reference: &OciReference,
    layout: Layout,
) -> Result<Pushed, Error> {
    let (config, config_type, layer_type) = artifact(&wasm, layout);
    let manifest = manifest(&config, config_type, &wasm, layer_type);
    let layer_digest = Digest::of(&wasm);
    let size = wasm.len() as u64;
    transport.push_blob(reference, wasm, &layer_digest).await?;
    let config_digest = Digest::of(&config);
    transport
        .push_blob(reference, config, &config_digest)
        .await?;
    let manifest_digest = Digest::of(&manifest);
    if let Some(pinned) = reference.digest()
        && *pinned != manifest_digest
    {
        return Err(Error::DigestMismatch {
            what: format!("manifest pushed to {reference}"),
            expected: pinned.to_string(),
            actual: manifest_digest.to_string(),
        });
    }
    transport
        .push_manifest(reference, manifest, OCI_MANIFEST)
        .await?;
    Ok(Pushed {
        reference: reference.clone(),
        manifest_digest,
        layer_digest,
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{Parsed, parse_manifest};

    const MODULE: &[u8] = b"\0asm\x01\0\0\0";
    const COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    #[test]
    fn both_layouts_parse_back_as_wasm_artifacts() {
        for layout in [Layout::Cncf, Layout::Legacy] {
            let (config, ct, lt) = artifact(MODULE, layout);
            let m = manifest(&config, ct, MODULE, lt);
            match parse_manifest(&m, None, "oci://r.example/x:1").unwrap() {
                Parsed::Image { layer_digest, .. } => assert_eq!(layer_digest, Digest::of(MODULE)),
                other => panic!("{other:?}"),
            }
        }
        let (config, _, _) = artifact(MODULE, Layout::Cncf);
        let config: serde_json::Value = serde_json::from_slice(&config).unwrap();
        assert_eq!(config["os"], "wasip1");
        assert_eq!(config["architecture"], "wasm");
        // A component targets WASI 0.2.
        let (config, _, layer) = artifact(COMPONENT, Layout::Cncf);
        let config: serde_json::Value = serde_json::from_slice(&config).unwrap();
        assert_eq!(config["os"], "wasip2");
        assert_eq!(layer, CNCF_WASM_LAYER);
    }

    #[test]
    fn not_wasm_is_refused() {
        assert!(check_wasm(std::path::Path::new("x"), b"#!/bin/sh\n").is_err());
        assert!(check_wasm(std::path::Path::new("x"), MODULE).is_ok());
        assert!(check_wasm(std::path::Path::new("x"), COMPONENT).is_ok());
    }
}
