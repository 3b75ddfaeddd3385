//! Progress events of a resolution, for the CLI to draw (indicatif bars) or ignore. Events come
//! from several concurrent downloads, interleaved; each names its module.

/// One step of one module's resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressEvent<'a> {
    /// Resolving a reference to a manifest on the registry.
    Resolving {
        /// Module name.
        module: &'a str,
        /// The `oci://` reference.
        reference: &'a str,
    },
    /// A blob download starts.
    Downloading {
        /// Module name.
        module: &'a str,
        /// Bytes expected.
        total: u64,
    },
    /// Bytes received so far.
    Advanced {
        /// Module name.
        module: &'a str,
        /// Bytes received so far.
        done: u64,
        /// Bytes expected.
        total: u64,
    },
    /// The module is in the cache and verified.
    Finished {
        /// Module name.
        module: &'a str,
        /// True when nothing was downloaded.
        from_cache: bool,
    },
    /// The module failed (the error is in the result).
    Failed {
        /// Module name.
        module: &'a str,
    },
}

/// The callback type: called from the resolving thread, possibly many times per module.
pub type ProgressFn<'f> = &'f (dyn Fn(ProgressEvent<'_>) + Sync);

/// A callback that ignores everything.
pub fn no_progress(_: ProgressEvent<'_>) {}
