//! Quoting of directive arguments for httpd.conf, and the one thing no rendered value may hold.
//!
//! Apache's `ap_getword_conf` reads a double-quoted word and turns `\\` into `\` and `\"` into
//! `"`; nothing else is special inside quotes. A newline ends a directive wherever it is (inside
//! quotes, inside a comment), so whatever a template prints must be free of control characters:
//! the manifest reader and the lock check refuse such values first
//! (`manifest::value_rules::config_unsafe`), and the renderer refuses them again
//! ([`control_character`], called for every printed value).
//!
//! This file depends on nothing but `std` (the fuzz targets include it as it is).

/// `value` as one double-quoted httpd.conf word.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '\\' || c == '"' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The first control character in `value` (CR, LF, NUL, any C0 or C1 code, DEL), if any.
pub fn control_character(value: &str) -> Option<char> {
    value.chars().find(|c| c.is_control())
}

/// `On` or `Off`.
pub fn on_off(value: bool) -> &'static str {
    if value { "On" } else { "Off" }
}

#[cfg(test)]
mod tests {
    use super::{control_character, quote};

    #[test]
    fn escapes_backslashes_and_quotes() {
        assert_eq!(quote("/srv/a b"), r#""/srv/a b""#);
        assert_eq!(quote(r#"say "hi"\n"#), r#""say \"hi\"\\n""#);
        assert_eq!(quote(""), r#""""#);
    }

    #[test]
    fn finds_every_control_character() {
        for c in ['\n', '\r', '\0', '\t', '\u{1b}', '\u{7f}', '\u{85}'] {
            assert_eq!(control_character(&format!("a{c}b")), Some(c), "{c:?}");
        }
        assert_eq!(control_character("/srv/ä \"x\" ${y}"), None);
    }
}
