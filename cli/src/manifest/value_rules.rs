//! The manifest reader's rules for plain values — what any value, an app name, a module name and
//! a URL path may be — as functions on text, so the reader and the check of a pulled
//! `bundle.lock` ([`crate::fleet::lock_check`]) apply the very same rules.
//!
//! This file depends on nothing but `std` (the fuzz targets include it as it is).

/// Longest app name: it becomes a folder and a file name (`mod-wasm-APP.conf`).
pub const MAX_APP_NAME: usize = 100;

/// Why `value` cannot be written into httpd.conf, if it cannot: control characters (a newline
/// would end the directive and start another) and `${` (Apache expands it as a variable).
pub fn config_unsafe(value: &str) -> Option<&'static str> {
    if value.chars().any(char::is_control) {
        Some("control characters (newlines, tabs, …) cannot be written into httpd.conf")
    } else if value.contains("${") {
        Some("`${` would be expanded by Apache as a variable reference")
    } else {
        None
    }
}

/// Why `name` cannot be an app name, if it cannot. An app name is a plain name — it names the
/// default deploy root `/var/lib/mod-wasm/APP` and the Debian include `mod-wasm-APP.conf` — so:
/// ASCII letters, digits, `.`, `_` and `-`, starting with a letter, a digit or `_`, no `..`, at
/// most [`MAX_APP_NAME`] characters.
pub fn app_name_problem(name: &str) -> Option<String> {
    let mut chars = name.chars();
    let first_ok = matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_');
    if name.is_empty() {
        Some("the app name is empty".into())
    } else if name.len() > MAX_APP_NAME {
        Some(format!(
            "the app name is longer than {MAX_APP_NAME} characters"
        ))
    } else if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        Some(format!(
            "`{}` is not a plain name: an app name becomes a folder and a file name",
            name.escape_debug()
        ))
    } else if name.contains("..") {
        Some(format!("`{name}` contains `..`"))
    } else {
        None
    }
}

/// Whether `name` is an app name (see [`app_name_problem`]).
pub fn valid_app_name(name: &str) -> bool {
    app_name_problem(name).is_none()
}

/// A module name becomes a file name in the bundle: letters, digits, `-`, `_` and `.`, starting
/// with a letter or digit.
pub fn valid_module_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Checks a URL path as a `<Location>` takes it: starts with `/`, no spaces or quotes.
pub fn check_url_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        Err(format!(
            "`{path}` does not start with `/` (write it as \"/{}\")",
            path.trim_start_matches('/')
        ))
    } else if path.contains(char::is_whitespace) || path.contains('"') {
        Err(format!("`{path}` contains spaces or quotes"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names_are_plain_names() {
        for good in ["shop", "shop_2.web-1", "_private", "A1", "x.y"] {
            assert!(valid_app_name(good), "{good}");
        }
        for bad in [
            "",
            "../x",
            "/elsewhere",
            "a/b",
            ".hidden",
            "-flag",
            "a b",
            "x..y",
            "..",
            "é",
            "a\nb",
        ] {
            assert!(!valid_app_name(bad), "{bad:?}");
        }
        assert!(!valid_app_name(&"a".repeat(MAX_APP_NAME + 1)));
        assert!(valid_app_name(&"a".repeat(MAX_APP_NAME)));
    }

    #[test]
    fn values_with_control_characters_or_expansions_are_unsafe() {
        assert!(config_unsafe("a\nb").is_some());
        assert!(config_unsafe("a\u{7f}").is_some());
        assert!(config_unsafe("${HOME}").is_some());
        assert!(config_unsafe("$HOME {x}").is_none());
        assert_eq!(check_url_path("/a/b"), Ok(()));
        assert!(check_url_path("a").is_err() && check_url_path("/a b").is_err());
        assert!(check_url_path("/a\"").is_err());
    }
}
