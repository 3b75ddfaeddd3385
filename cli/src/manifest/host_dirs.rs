//! Host folders of `dir` and `map-dir`: each must exist and be a folder, and is replaced by its
//! canonical real path, because the server refuses a configured host folder whose path goes
//! through a symlink (a module could otherwise swap a folder for a link between requests).

use std::collections::BTreeMap;

use super::Manifest;
use crate::problem::Problem;

/// Checks every host folder of every route and rewrites `dirs`/`map-dirs` to canonical paths.
pub fn resolve(m: &mut Manifest) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut canonical: BTreeMap<String, String> = BTreeMap::new();
    for route in &m.routes {
        for dir in &route.host_dirs {
            let shown = dir.value.display().to_string();
            if canonical.contains_key(&shown) {
                continue;
            }
            let what = match std::fs::canonicalize(&dir.value) {
                Ok(real) if real.is_dir() => {
                    canonical.insert(shown, real.display().to_string());
                    continue;
                }
                Ok(_) => "is not a folder",
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => "does not exist",
                Err(_) if dir.value.exists() => "is not a folder",
                Err(_) => "cannot be resolved",
            };
            problems.push(
                Problem::error(
                    "manifest::missing-dir",
                    format!("host folder `{shown}` {what}"),
                    dir.span,
                    "no such folder",
                )
                .with_help("host paths are relative to the manifest's folder"),
            );
        }
    }
    for route in &mut m.routes {
        for d in &mut route.settings.dirs {
            if let Some(real) = canonical.get(&d.host) {
                d.host = real.clone();
            }
        }
        for d in &mut route.settings.map_dirs {
            if let Some(real) = canonical.get(&d.host) {
                d.host = real.clone();
            }
        }
    }
    problems
}
