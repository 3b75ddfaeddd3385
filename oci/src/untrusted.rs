//! Registry text shown to people: the one escaping of strings a registry (or a bundle it serves)
//! controls — tags, digests, media types, error messages, names from a lock — before they reach
//! a log line or a diagnostic.
//!
//! Control characters (C0, DEL, C1), the Unicode line and paragraph separators and the bidi
//! overrides are written as escapes (`\n`, `\r`, `\t`, `\u{1b}`), so such a string stays on its
//! own line and reads the way it is stored: a registry cannot end a log line and forge the next
//! one ("… deployed: …"), nor move the cursor or reorder what a terminal shows. Everything else,
//! backslashes included, is kept as it is.

use std::borrow::Cow;

/// Whether `c` is written as an escape.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with every control character escaped (borrowed when there is none).
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_nothing_else() {
        assert!(matches!(escape("oci://r/x:1 ok"), Cow::Borrowed(_)));
        assert_eq!(
            escape("bad\n2026-01-01T00:00:00Z deployed: sha256:aa is live"),
            "bad\\n2026-01-01T00:00:00Z deployed: sha256:aa is live"
        );
        assert_eq!(
            escape("a\rb\tc\u{1b}[2Jd\u{7f}"),
            "a\\rb\\tc\\u{1b}[2Jd\\u{7f}"
        );
        assert_eq!(
            escape("x\u{85}y\u{2028}z\u{202e}"),
            "x\\u{85}y\\u{2028}z\\u{202e}"
        );
        // Kept: backslashes, quotes and other text.
        assert_eq!(escape("a\\nb \"é\" ✓"), "a\\nb \"é\" ✓");
        assert!(!escape("\n\r\u{0}").contains(['\n', '\r', '\0']));
    }
}
