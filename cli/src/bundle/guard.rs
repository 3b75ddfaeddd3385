//! The bundle folder is replaced whole by every build, so `--out` must never name a folder the
//! CLI did not make: a non-empty folder without a `bundle.lock` is refused, and so are the
//! current directory, the manifest's own folder and every folder above either. Paths are
//! compared as real paths: `.`, `..`, `missing/..` and symlinks are all seen through, and the
//! build writes to the real path it checked.

use std::path::{Component, Path, PathBuf};

use super::layout::BundleLayout;
use super::lock::LOCK_FORMAT;

/// Why a folder cannot be the bundle folder.
#[derive(Debug, thiserror::Error)]
pub enum OutRefusal {
    /// It holds (or is) the current directory.
    #[error("`{0}` is the current directory or contains it; building there would replace it")]
    HoldsWorkingDir(PathBuf),
    /// It holds (or is) the manifest's folder.
    #[error("`{0}` holds the manifest `{1}`; building there would replace the project")]
    HoldsManifest(PathBuf, PathBuf),
    /// A non-empty folder that is not a bundle.
    #[error("`{path}` is not empty and is not a bundle (no bundle.lock); it holds `{example}`")]
    NotABundle {
        /// The folder.
        path: PathBuf,
        /// One of its entries, for the message.
        example: String,
    },
    /// Something other than a folder.
    #[error("`{0}` exists and is not a folder")]
    NotAFolder(PathBuf),
    /// It could not be inspected.
    #[error("cannot inspect `{path}`: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl OutRefusal {
    /// The diagnostic code.
    pub fn code(&self) -> &'static str {
        match self {
            OutRefusal::HoldsWorkingDir(_) | OutRefusal::HoldsManifest(..) => {
                "build::out-holds-project"
            }
            OutRefusal::NotABundle { .. } => "build::out-not-a-bundle",
            OutRefusal::NotAFolder(_) => "build::out-not-a-folder",
            OutRefusal::Io { .. } => "build::write",
        }
    }

    /// How to get out of it.
    pub fn help(&self) -> &'static str {
        "choose an empty or new folder (or a previous bundle) with --out DIR"
    }
}

/// Checks that `out` may be replaced by a bundle built from the manifest at `manifest`;
/// returns the real path to build into.
pub fn check_out_dir(out: &Path, manifest: &Path) -> Result<PathBuf, OutRefusal> {
    let io = |source| OutRefusal::Io {
        path: out.to_path_buf(),
        source,
    };
    let real = real_target(out).map_err(io)?;
    let meta = match std::fs::metadata(&real) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(real),
        Err(e) => return Err(io(e)),
    };
    if !meta.is_dir() {
        return Err(OutRefusal::NotAFolder(out.to_path_buf()));
    }
    if let Ok(cwd) = std::env::current_dir().and_then(std::fs::canonicalize)
        && cwd.starts_with(&real)
    {
        return Err(OutRefusal::HoldsWorkingDir(out.to_path_buf()));
    }
    let manifest_dir = manifest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let manifest_dir = std::fs::canonicalize(manifest_dir).map_err(io)?;
    if manifest_dir.starts_with(&real) {
        return Err(OutRefusal::HoldsManifest(
            out.to_path_buf(),
            manifest.to_path_buf(),
        ));
    }
    if is_bundle(&real) {
        return Ok(real);
    }
    let mut entries = std::fs::read_dir(&real).map_err(io)?;
    match entries.next() {
        None => Ok(real),
        Some(entry) => Err(OutRefusal::NotABundle {
            path: out.to_path_buf(),
            example: entry
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .unwrap_or_else(|_| "?".into()),
        }),
    }
}

/// The real path `path` names, whether or not it exists: the longest existing prefix made
/// canonical, the rest applied as the folders `create_dir_all` would make (so `..` after a
/// missing folder goes back up). A second pass makes canonical what the first one exposed.
pub fn real_target(path: &Path) -> std::io::Result<PathBuf> {
    let once = |path: &Path| -> std::io::Result<PathBuf> {
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()?.join(path)
        };
        let components: Vec<Component> = absolute.components().collect();
        let mut known = components.len();
        while known > 1 {
            let prefix: PathBuf = components[..known].iter().collect();
            if std::fs::metadata(&prefix).is_ok() {
                break;
            }
            known -= 1;
        }
        let prefix: PathBuf = components[..known].iter().collect();
        let mut real = std::fs::canonicalize(&prefix)?;
        for component in &components[known..] {
            match component {
                Component::ParentDir => {
                    real.pop();
                }
                Component::Normal(name) => real.push(name),
                _ => {}
            }
        }
        Ok(real)
    };
    once(&once(path)?)
}

/// Whether `dir` holds a `bundle.lock` written by this CLI (a regular file naming our format).
fn is_bundle(dir: &Path) -> bool {
    let lock = BundleLayout::new(dir).lock();
    let Ok(meta) = std::fs::symlink_metadata(&lock) else {
        return false;
    };
    if !meta.is_file() || meta.len() > 16 << 20 {
        return false;
    }
    let Ok(text) = std::fs::read_to_string(&lock) else {
        return false;
    };
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("format").and_then(|f| f.as_str()).map(str::to_string))
        .is_some_and(|f| f == LOCK_FORMAT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_targets_see_through_dots_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("real")).unwrap();
        std::os::unix::fs::symlink("real", root.join("link")).unwrap();
        assert_eq!(real_target(&root.join("link")).unwrap(), root.join("real"));
        assert_eq!(
            real_target(&root.join("missing/../link/new")).unwrap(),
            root.join("real/new")
        );
        assert_eq!(
            real_target(&root.join("./real/../missing/x")).unwrap(),
            root.join("missing/x")
        );
    }

    #[test]
    fn refuses_what_it_did_not_make() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let project = root.join("project");
        std::fs::create_dir_all(project.join("src")).unwrap();
        let manifest = project.join("app.kdl");
        std::fs::write(&manifest, "app \"x\"\n").unwrap();

        assert!(check_out_dir(&project.join("bundle"), &manifest).is_ok());
        let empty = root.join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(check_out_dir(&empty, &manifest).is_ok());

        assert!(matches!(
            check_out_dir(&project, &manifest),
            Err(OutRefusal::HoldsManifest(..))
        ));
        assert!(matches!(
            check_out_dir(root, &manifest),
            Err(OutRefusal::HoldsManifest(..))
        ));
        assert!(matches!(
            check_out_dir(&project.join("src/.."), &manifest),
            Err(OutRefusal::HoldsManifest(..))
        ));
        assert!(matches!(
            check_out_dir(&project.join("no-such-folder/.."), &manifest),
            Err(OutRefusal::HoldsManifest(..))
        ));
        std::fs::write(root.join("thesis.txt"), "years of work").unwrap();
        let work = root.join("work");
        std::fs::create_dir(&work).unwrap();
        std::fs::write(work.join("thesis.txt"), "years of work").unwrap();
        assert!(matches!(
            check_out_dir(&work, &manifest),
            Err(OutRefusal::NotABundle { .. })
        ));
        // A file named bundle.lock that is not ours does not make a bundle.
        std::fs::write(work.join("bundle.lock"), "{}").unwrap();
        assert!(check_out_dir(&work, &manifest).is_err());
        std::fs::write(
            work.join("bundle.lock"),
            format!("{{\"format\": \"{LOCK_FORMAT}\"}}"),
        )
        .unwrap();
        assert!(check_out_dir(&work, &manifest).is_ok());

        std::fs::write(root.join("file"), "x").unwrap();
        assert!(matches!(
            check_out_dir(&root.join("file"), &manifest),
            Err(OutRefusal::NotAFolder(_))
        ));
        std::os::unix::fs::symlink(&project, root.join("link")).unwrap();
        assert!(matches!(
            check_out_dir(&root.join("link"), &manifest),
            Err(OutRefusal::HoldsManifest(..))
        ));
    }
}
