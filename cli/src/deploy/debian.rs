//! `deploy --debian`: the system Apache of Debian's packages. The one line the running
//! configuration needs (`IncludeOptional ROOT/current/wasm.conf`) goes into
//! `/etc/apache2/conf-available/mod-wasm-APP.conf`, enabled with `a2enconf` — the way Debian's
//! own packages add configuration (`$APACHE_CONFDIR` is honoured, as `a2enconf` honours it).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bundle::files;

/// Debian's Apache configuration folder: `$APACHE_CONFDIR`, else `/etc/apache2`.
pub fn conf_dir() -> PathBuf {
    std::env::var_os("APACHE_CONFDIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/apache2"))
}

/// The conf name of an app, `mod-wasm-APP` (the app name must be a plain name).
pub fn conf_name(app: &str) -> Result<String, String> {
    match crate::manifest::value_rules::app_name_problem(app) {
        None => Ok(format!("mod-wasm-{app}")),
        Some(why) => Err(format!(
            "app `{}` cannot name a file in conf-available/: {why}",
            app.escape_debug()
        )),
    }
}

/// The `IncludeOptional` line for a deploy root.
pub fn include_line(root: &Path) -> String {
    let current = root.join("current").join("wasm.conf");
    let text = current.display().to_string();
    if text.contains(char::is_whitespace) {
        format!("IncludeOptional \"{text}\"")
    } else {
        format!("IncludeOptional {text}")
    }
}

/// What [`ensure_enabled`] found or did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Enabled {
    /// `conf-available/mod-wasm-APP.conf`.
    pub path: PathBuf,
    /// The file was written (or the line added).
    pub wrote: bool,
    /// `a2enconf` was run.
    pub enabled: bool,
}

/// Whether `conf-available/mod-wasm-APP.conf` has the include of `root` and is enabled.
pub fn is_enabled(app: &str, root: &Path) -> Result<bool, String> {
    let name = conf_name(app)?;
    let dir = conf_dir();
    let available = dir.join("conf-available").join(format!("{name}.conf"));
    let has_line = std::fs::read_to_string(&available)
        .is_ok_and(|t| t.lines().any(|l| l.trim() == include_line(root)));
    Ok(has_line
        && dir
            .join("conf-enabled")
            .join(format!("{name}.conf"))
            .exists())
}

/// Writes `conf-available/mod-wasm-APP.conf` with the include of `root` (if the line is
/// missing) and runs `a2enconf mod-wasm-APP` (if it is not enabled yet).
pub fn ensure_enabled(app: &str, root: &Path) -> Result<Enabled, String> {
    ensure_enabled_in(&conf_dir(), app, root)
}

/// [`ensure_enabled`] in the Debian-style configuration folder `dir`.
pub fn ensure_enabled_in(dir: &Path, app: &str, root: &Path) -> Result<Enabled, String> {
    let name = conf_name(app)?;
    let available = dir.join("conf-available");
    if !available.is_dir() {
        return Err(format!(
            "{} does not exist: is Debian's apache2 package installed?",
            available.display()
        ));
    }
    let path = available.join(format!("{name}.conf"));
    let line = include_line(root);
    let mut result = Enabled {
        path: path.clone(),
        ..Enabled::default()
    };
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    if !existing
        .as_deref()
        .is_some_and(|t| t.lines().any(|l| l.trim() == line))
    {
        let mut text = existing.unwrap_or_else(|| {
            format!(
                "# Written by `mod-wasm deploy --debian` for app {app}: the release that is live.\n\
                 # Releases live in {} (see `mod-wasm releases --root {}`).\n",
                root.display(),
                root.display()
            )
        });
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&line);
        text.push('\n');
        let tmp = available.join(format!(".{name}.conf.tmp-{}", std::process::id()));
        files::write_file(&tmp, text.as_bytes())
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                format!("cannot write {}: {e}", path.display())
            })?;
        result.wrote = true;
    }
    if !dir
        .join("conf-enabled")
        .join(format!("{name}.conf"))
        .exists()
    {
        let out = Command::new("a2enconf")
            .args(["-q", &name])
            .env("APACHE_CONFDIR", dir)
            .output()
            .map_err(|e| format!("cannot run a2enconf: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "`a2enconf -q {name}` failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        result.enabled = true;
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_lines() {
        assert_eq!(conf_name("hello").unwrap(), "mod-wasm-hello");
        assert!(conf_name("../etc").is_err());
        assert!(conf_name("a b").is_err());
        assert_eq!(
            include_line(Path::new("/var/lib/mod-wasm/hello")),
            "IncludeOptional /var/lib/mod-wasm/hello/current/wasm.conf"
        );
        assert_eq!(
            include_line(Path::new("/srv/my apps")),
            "IncludeOptional \"/srv/my apps/current/wasm.conf\""
        );
    }

    #[test]
    fn the_line_is_written_once_and_kept_beside_other_lines() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path();
        std::fs::create_dir_all(conf.join("conf-available")).unwrap();
        std::fs::create_dir_all(conf.join("conf-enabled")).unwrap();
        // Already enabled: a2enconf is not needed.
        std::os::unix::fs::symlink(
            "../conf-available/mod-wasm-t.conf",
            conf.join("conf-enabled/mod-wasm-t.conf"),
        )
        .unwrap();
        let root = Path::new("/var/lib/mod-wasm/t");
        let first = ensure_enabled_in(conf, "t", root).unwrap();
        assert!(first.wrote && !first.enabled);
        let path = conf.join("conf-available/mod-wasm-t.conf");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.ends_with("IncludeOptional /var/lib/mod-wasm/t/current/wasm.conf\n"),
            "{text}"
        );
        let again = ensure_enabled_in(conf, "t", root).unwrap();
        assert!(!again.wrote && !again.enabled);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        // Another root for the same app: its line is added, the operator's lines kept.
        std::fs::write(&path, "# mine\nHeader set X-Mine 1").unwrap();
        assert!(ensure_enabled_in(conf, "t", root).unwrap().wrote);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# mine\nHeader set X-Mine 1\nIncludeOptional /var/lib/mod-wasm/t/current/wasm.conf\n"
        );
        assert!(ensure_enabled_in(&conf.join("missing"), "t", root).is_err());
        assert!(ensure_enabled_in(conf, "../x", root).is_err());
    }
}
