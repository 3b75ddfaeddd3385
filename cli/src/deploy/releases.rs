//! The deploy root: immutable releases, the `current` symlink, and the record of every deploy.
//!
//! ```text
//! ROOT/releases/<utc>-<digest12>/   bundle.lock, modules/, wasm.conf (paths into this release)
//! ROOT/current -> releases/<id>     swapped by renaming a new symlink over it (atomic)
//! ROOT/releases.jsonl               one JSON line per deploy or rollback
//! ROOT/deploy.lock                  flock(2), see lock.rs
//! ```
//! A release is written under `releases/.tmp-…` and renamed into place, so `current` only ever
//! points at a complete release, whenever the deploy is killed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::bundle::files;

/// What happened to a release (one line of `releases.jsonl`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Record {
    /// The release id.
    pub id: String,
    /// SHA-256 of its `bundle.lock`.
    pub digest: String,
    /// Where it came from (a manifest, a bundle folder, an OCI reference).
    pub source: String,
    /// RFC 3339 time.
    pub time: String,
    /// Who ran it.
    pub user: String,
    /// `ok`, `failed`, `rolled-back` (was live, then replaced by a rollback) or `dry-run`.
    pub outcome: String,
    /// The release that was current before.
    pub previous: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A deploy root.
#[derive(Clone, Debug)]
pub struct ReleaseRoot {
    root: PathBuf,
}

impl ReleaseRoot {
    /// The root at `root`, as it is (nothing created: for reading, and for dry runs).
    pub fn existing(root: &Path) -> ReleaseRoot {
        ReleaseRoot {
            root: root.to_path_buf(),
        }
    }

    /// The root at `root` (created with its `releases/` folder when missing).
    pub fn open(root: &Path) -> std::io::Result<ReleaseRoot> {
        files::create_dir(&root.join("releases"))?;
        Ok(ReleaseRoot {
            root: root.to_path_buf(),
        })
    }

    /// The root folder.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `ROOT/deploy.lock`.
    pub fn lock_path(&self) -> PathBuf {
        self.root.join("deploy.lock")
    }

    /// `ROOT/current`.
    pub fn current_link(&self) -> PathBuf {
        self.root.join("current")
    }

    /// `ROOT/releases/ID`.
    pub fn release_dir(&self, id: &str) -> PathBuf {
        self.root.join("releases").join(id)
    }

    /// The id `current` points at, if any.
    pub fn current(&self) -> Option<String> {
        let target = std::fs::read_link(self.current_link()).ok()?;
        target.file_name().map(|n| n.to_string_lossy().into_owned())
    }

    /// Every release folder's id, oldest first (ids start with their UTC time).
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(self.root.join("releases"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// Moves a complete folder `staged` (under `ROOT/releases/`) into place as release `id`.
    pub fn commit_release(&self, staged: &Path, id: &str) -> std::io::Result<PathBuf> {
        let dest = self.release_dir(id);
        std::fs::rename(staged, &dest)?;
        files::set_dir_mode(&dest)?;
        Ok(dest)
    }

    /// A fresh staging folder under `ROOT/releases/` (same file system as the releases).
    pub fn staging_dir(&self, label: &str) -> std::io::Result<PathBuf> {
        let dir = self.root.join("releases").join(format!(
            ".tmp-{label}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        files::create_dir(&dir)?;
        Ok(dir)
    }

    /// Removes staging folders left by killed deploys (call with the lock held).
    pub fn clean_staging(&self) {
        if let Ok(entries) = std::fs::read_dir(self.root.join("releases")) {
            for entry in entries.filter_map(Result::ok) {
                if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
    }

    /// Points `current` at release `id`: a new symlink renamed over the old one.
    pub fn set_current(&self, id: &str) -> std::io::Result<()> {
        let tmp = self
            .root
            .join(format!(".current.tmp-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(Path::new("releases").join(id), &tmp)?;
        std::fs::rename(&tmp, self.current_link())
    }

    /// Appends `record` to `releases.jsonl`.
    pub fn append(&self, record: &Record) -> std::io::Result<()> {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join("releases.jsonl"))?;
        let line = serde_json::to_string(record).map_err(std::io::Error::other)?;
        writeln!(file, "{line}")?;
        file.sync_all()
    }

    /// Every record, oldest first (unreadable lines skipped).
    pub fn records(&self) -> Vec<Record> {
        std::fs::read_to_string(self.root.join("releases.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The latest outcome recorded for each release id.
    pub fn outcome_of(&self, id: &str) -> Option<String> {
        self.records()
            .into_iter()
            .rev()
            .find(|r| r.id == id)
            .map(|r| r.outcome)
    }

    /// The newest release before `current` (in id order, all of them when there is none) whose
    /// latest outcome is `ok` or `rolled-back`: what `rollback` goes back to.
    pub fn rollback_target(&self, current: Option<&str>) -> Option<String> {
        let ids = self.ids();
        let records = self.records();
        let outcome = |id: &str| {
            records
                .iter()
                .rev()
                .find(|r| r.id == id)
                .map(|r| r.outcome.as_str())
        };
        ids.iter()
            .take_while(|id| Some(id.as_str()) != current)
            .filter(|id| matches!(outcome(id), Some("ok" | "rolled-back")))
            .last()
            .cloned()
    }

    /// Removes releases until at most `keep` (at least 1) remain, whatever their outcome (failed
    /// releases do not pile up). Kept first: `current`, then `previous` (the release live before
    /// it), then what `rollback` would go back to, then the newest of the rest. Returns the ids
    /// removed.
    pub fn prune(&self, keep: usize, previous: Option<&str>) -> Vec<String> {
        let ids = self.ids();
        let current = self.current();
        let target = self.rollback_target(current.as_deref());
        let wanted = [current.as_deref(), previous, target.as_deref()]
            .into_iter()
            .flatten()
            .chain(ids.iter().rev().map(String::as_str));
        let mut kept: Vec<&str> = Vec::new();
        for id in wanted {
            if kept.len() == keep.max(1) {
                break;
            }
            if ids.iter().any(|i| i == id) && !kept.contains(&id) {
                kept.push(id);
            }
        }
        let mut removed = Vec::new();
        for id in ids.iter().filter(|id| !kept.contains(&id.as_str())) {
            if std::fs::remove_dir_all(self.release_dir(id)).is_ok() {
                removed.push(id.clone());
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_current_records_and_pruning() {
        let dir = tempfile::tempdir().unwrap();
        let root = ReleaseRoot::open(dir.path()).unwrap();
        assert_eq!(root.current(), None);
        for id in [
            "20260101T000000Z-aaaa",
            "20260102T000000Z-bbbb",
            "20260103T000000Z-cccc",
        ] {
            let staged = root.staging_dir("t").unwrap();
            std::fs::write(staged.join("wasm.conf"), id).unwrap();
            root.commit_release(&staged, id).unwrap();
            root.set_current(id).unwrap();
        }
        assert_eq!(root.current().as_deref(), Some("20260103T000000Z-cccc"));
        let via_link = std::fs::read_to_string(root.current_link().join("wasm.conf")).unwrap();
        assert_eq!(via_link, "20260103T000000Z-cccc");
        let removed = root.prune(2, Some("20260102T000000Z-bbbb"));
        assert_eq!(removed, ["20260101T000000Z-aaaa"]);
        assert_eq!(root.ids().len(), 2);
        let record = Record {
            id: "x".into(),
            digest: "d".into(),
            source: "s".into(),
            time: "t".into(),
            user: "u".into(),
            outcome: "ok".into(),
            previous: None,
            reason: None,
        };
        root.append(&record).unwrap();
        root.append(&Record {
            outcome: "rolled-back".into(),
            ..record.clone()
        })
        .unwrap();
        assert_eq!(root.records().len(), 2);
        assert_eq!(root.outcome_of("x").as_deref(), Some("rolled-back"));
    }

    fn record(id: &str, outcome: &str) -> Record {
        Record {
            id: id.into(),
            digest: "d".into(),
            source: "s".into(),
            time: "t".into(),
            user: "u".into(),
            outcome: outcome.into(),
            previous: None,
            reason: None,
        }
    }

    fn release(root: &ReleaseRoot, id: &str, outcome: &str) {
        let staged = root.staging_dir("t").unwrap();
        root.commit_release(&staged, id).unwrap();
        root.append(&record(id, outcome)).unwrap();
    }

    /// `--keep 3` leaves 3, the protected previous release counted, failed ones pruned first
    /// when they are older than what must stay.
    #[test]
    fn keep_is_a_budget_that_counts_current_and_previous() {
        let dir = tempfile::tempdir().unwrap();
        let root = ReleaseRoot::open(dir.path()).unwrap();
        release(&root, "1-ok", "ok");
        release(&root, "2-ok", "ok");
        root.set_current("2-ok").unwrap();
        for id in ["3-failed", "4-failed", "5-failed"] {
            release(&root, id, "failed");
            root.prune(3, Some("2-ok"));
            assert!(root.ids().len() <= 3, "{:?}", root.ids());
        }
        // Current, what rollback goes back to, and the newest failure.
        assert_eq!(root.ids(), ["1-ok", "2-ok", "5-failed"]);
        release(&root, "6-ok", "ok");
        root.set_current("6-ok").unwrap();
        let removed = root.prune(3, Some("2-ok"));
        assert_eq!(removed, ["1-ok"]);
        assert_eq!(root.ids(), ["2-ok", "5-failed", "6-ok"]);
        assert_eq!(root.rollback_target(Some("6-ok")).as_deref(), Some("2-ok"));
        // A budget of 1 keeps the live release alone.
        root.prune(1, Some("2-ok"));
        assert_eq!(root.ids(), ["6-ok"]);
        assert_eq!(root.current().as_deref(), Some("6-ok"));
    }
}
