//! Turning a bundle into a release: its files copied under `ROOT/releases/<id>/`, its `wasm.conf`
//! pointing at that release's own files (never through `current`, so a running generation never
//! sees the next release's files), naming the release (`WasmRelease`) and bringing the
//! loopback-only `wasm-status` that deploy verifies against.

use std::path::Path;

use crate::bundle::files;
use crate::bundle::layout::BundleLayout;

use super::verify::STATUS_PATH;

/// The release id of a bundle whose `bundle.lock` has SHA-256 `digest`: UTC time, then the
/// digest's first 12 hex digits.
pub fn release_id(digest: &str, now: std::time::SystemTime) -> String {
    let stamp = wasm_runtime::status::rfc3339(now).replace(['-', ':'], "");
    format!("{stamp}-{}", &digest[..digest.len().min(12)])
}

/// Copies the bundle at `bundle` into `staged` (an empty folder that will be renamed to
/// `final_dir`), rewriting `wasm.conf` for `final_dir` and release `id`.
pub fn relocate(bundle: &Path, staged: &Path, final_dir: &Path, id: &str) -> std::io::Result<()> {
    let (from, to) = (BundleLayout::new(bundle), BundleLayout::new(staged));
    files::copy_file(&from.lock(), &to.lock())?;
    files::create_dir(&to.modules_dir())?;
    for entry in std::fs::read_dir(from.modules_dir())? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            files::copy_file(&entry.path(), &to.modules_dir().join(entry.file_name()))?;
        }
    }
    let conf = std::fs::read_to_string(from.wasm_conf())?;
    files::write_file(
        &to.wasm_conf(),
        rewrite(&conf, bundle, final_dir, id).as_bytes(),
    )
}

/// Whether `conf` already has a `wasm-status` location at `path` (a manifest's `status` node
/// renders `<Location "PATH">` with `SetHandler wasm-status`).
pub fn has_status_location(conf: &str, path: &str) -> bool {
    let mut inside = false;
    for line in conf.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [open, arg] if open.eq_ignore_ascii_case("<Location") => {
                inside = arg.trim_end_matches('>').trim_matches('"') == path;
            }
            [close] if close.eq_ignore_ascii_case("</Location>") => inside = false,
            [directive, handler]
                if inside
                    && directive.eq_ignore_ascii_case("SetHandler")
                    && handler.trim_matches('"') == "wasm-status" =>
            {
                return true;
            }
            _ => {}
        }
    }
    false
}

/// `wasm.conf` of `bundle` made to name `release_dir`'s files and release `id`.
pub fn rewrite(conf: &str, bundle: &Path, release_dir: &Path, id: &str) -> String {
    let dir = |root: &Path| format!("{}/", BundleLayout::new(root).modules_dir().display());
    let (from, to) = (dir(bundle), dir(release_dir));
    let mut out: String = conf
        .replace(&from, &to)
        .lines()
        .filter(|l| {
            !l.trim_start()
                .to_ascii_lowercase()
                .starts_with("wasmrelease ")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    if has_status_location(conf, STATUS_PATH) {
        // The bundle brings the very location deploy reads (`status` in its manifest).
        out.push_str(&format!(
            "\n# Added by `mod-wasm deploy`: the release this file belongs to (the bundle's own\n\
             # wasm-status location above is the one deploy reads to prove which release serves).\n\
             WasmRelease {id}\n"
        ));
        return out;
    }
    out.push_str(&format!(
        "\n# Added by `mod-wasm deploy`: the release this file belongs to, and the loopback-only\n\
         # wasm-status deploy reads to prove which release serves (mod_authz_core alone).\n\
         WasmRelease {id}\n\
         <Location {STATUS_PATH}>\n\
         \x20   SetHandler wasm-status\n\
         \x20   {LOOPBACK_ONLY}\n\
         </Location>\n"
    ));
    out
}

/// The access rule of a wasm-status location: loopback clients only, with `mod_authz_core`
/// alone (`Require local` needs `mod_authz_host`, which a server may not load: then the page was
/// left out and deploy's verification met a 404). Without `mod_authz_core`, `Require` is an
/// unknown directive and the configtest refuses the release before it goes live.
pub const LOOPBACK_ONLY: &str = "Require expr \"-R '127.0.0.0/8' || -R '::1'\"";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_name_the_digest() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_842_000);
        assert_eq!(
            release_id("0123456789abcdef", t),
            "20261128T050000Z-0123456789ab"
        );
    }

    #[test]
    fn wasm_conf_points_into_the_release_and_names_it() {
        let conf = "WasmRelease old\n<Location \"/a\">\n    WasmModule \"/b/bundle/modules/a.cwasm\"\n</Location>\n";
        let out = rewrite(
            conf,
            Path::new("/b/bundle"),
            Path::new("/r/releases/X"),
            "X",
        );
        assert!(out.contains("\"/r/releases/X/modules/a.cwasm\""), "{out}");
        assert!(!out.contains("/b/bundle/modules"));
        assert!(!out.contains("WasmRelease old"));
        assert!(out.contains("WasmRelease X\n"));
        assert!(out.contains(&format!("<Location {STATUS_PATH}>")));
        assert!(
            out.contains(LOOPBACK_ONLY) && !out.contains("IfModule"),
            "{out}"
        );
    }

    #[test]
    fn a_bundle_with_the_status_location_does_not_get_a_second_one() {
        let conf = format!(
            "WasmRelease bundle-0123456789ab\n<IfModule authz_host_module>\n<Location \"{STATUS_PATH}\">\n    SetHandler wasm-status\n    Require local\n</Location>\n</IfModule>\n"
        );
        assert!(has_status_location(&conf, STATUS_PATH));
        assert!(!has_status_location(&conf, "/other"));
        let out = rewrite(&conf, Path::new("/b"), Path::new("/r/X"), "X");
        assert_eq!(out.matches("SetHandler wasm-status").count(), 1, "{out}");
        assert!(out.contains("WasmRelease X\n") && !out.contains("bundle-0123456789ab"));
        // Another status path in the bundle: deploy still adds its own.
        let other = conf.replace(STATUS_PATH, "/status");
        let out = rewrite(&other, Path::new("/b"), Path::new("/r/X"), "X");
        assert_eq!(out.matches("SetHandler wasm-status").count(), 2, "{out}");
        assert!(!has_status_location(
            "<Location \"/x\">\n</Location>\nSetHandler wasm-status\n",
            "/x"
        ));
    }
}
