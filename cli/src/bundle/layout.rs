//! The one place that knows a bundle's file names:
//!
//! ```text
//! bundle.lock                 what the bundle holds and how it was made
//! wasm.conf                   the Include for httpd.conf
//! .gitignore                  `*`: a bundle is generated
//! modules/NAME.wasm           each module as resolved
//! modules/NAME.cwasm          its precompiled code
//! modules/NAME.cwasm.meta     the sidecar vouching for it (named by `Sidecar::path_for`)
//! ```

use std::path::{Path, PathBuf};

use wasm_runtime::precompiled::Sidecar;

/// The files of the bundle in one folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleLayout {
    root: PathBuf,
}

const LOCK: &str = "bundle.lock";
const WASM_CONF: &str = "wasm.conf";
const GITIGNORE: &str = ".gitignore";
const MODULES: &str = "modules";

impl BundleLayout {
    /// The bundle in `root`.
    pub fn new(root: impl Into<PathBuf>) -> BundleLayout {
        BundleLayout { root: root.into() }
    }

    /// The bundle folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `bundle.lock`.
    pub fn lock(&self) -> PathBuf {
        self.root.join(LOCK)
    }

    /// `wasm.conf`.
    pub fn wasm_conf(&self) -> PathBuf {
        self.root.join(WASM_CONF)
    }

    /// `.gitignore`.
    pub fn gitignore(&self) -> PathBuf {
        self.root.join(GITIGNORE)
    }

    /// `modules/`.
    pub fn modules_dir(&self) -> PathBuf {
        self.root.join(MODULES)
    }

    /// `modules/NAME.wasm`.
    pub fn wasm(&self, module: &str) -> PathBuf {
        self.root.join(Self::wasm_entry(module))
    }

    /// `modules/NAME.cwasm`.
    pub fn cwasm(&self, module: &str) -> PathBuf {
        self.root.join(Self::cwasm_entry(module))
    }

    /// The sidecar of `modules/NAME.cwasm`.
    pub fn sidecar(&self, module: &str) -> PathBuf {
        Sidecar::path_for(&self.cwasm(module))
    }

    /// `modules/NAME.wasm`, relative to the bundle, as `bundle.lock` records it.
    pub fn wasm_entry(module: &str) -> String {
        format!("{MODULES}/{}", Self::wasm_file_name(module))
    }

    /// `modules/NAME.cwasm`, relative to the bundle, as `bundle.lock` records it.
    pub fn cwasm_entry(module: &str) -> String {
        format!("{MODULES}/{module}.cwasm")
    }

    /// `NAME.wasm`: the source a `.cwasm`'s sidecar names, relative to the `.cwasm`'s folder.
    pub fn wasm_file_name(module: &str) -> String {
        format!("{module}.wasm")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_file_of_a_bundle() {
        let b = BundleLayout::new("/srv/app/bundle");
        assert_eq!(b.lock(), Path::new("/srv/app/bundle/bundle.lock"));
        assert_eq!(b.wasm_conf(), Path::new("/srv/app/bundle/wasm.conf"));
        assert_eq!(b.modules_dir(), Path::new("/srv/app/bundle/modules"));
        assert_eq!(b.wasm("hi"), Path::new("/srv/app/bundle/modules/hi.wasm"));
        assert_eq!(b.cwasm("hi"), Path::new("/srv/app/bundle/modules/hi.cwasm"));
        assert_eq!(
            b.sidecar("hi"),
            Path::new("/srv/app/bundle/modules/hi.cwasm.meta")
        );
        assert_eq!(BundleLayout::cwasm_entry("hi"), "modules/hi.cwasm");
        assert_eq!(b.root().join(BundleLayout::wasm_entry("hi")), b.wasm("hi"));
        assert_eq!(
            b.wasm("hi").file_name().unwrap().to_str(),
            Some(BundleLayout::wasm_file_name("hi").as_str())
        );
    }
}
