//! A bound on nesting, checked on the raw text before the KDL parser (which recurses once per
//! `{ }` level and per nested `/* */` comment) ever sees it: a manifest nested 1,500 deep would
//! otherwise overflow the stack and abort the process.
//!
//! The scan follows KDL 2's lexical rules far enough to skip braces inside strings (quoted,
//! multi-line, raw) and comments (`//` to the end of the line, nested `/* */`). Where the rules
//! are ambiguous it errs towards counting a brace: the worst case is refusing a manifest with
//! a deep brace in a comment, never letting a deep one through.

use miette::SourceSpan;

use crate::problem::Problem;

/// Deepest nesting accepted (a real manifest needs 2: `route { … }`).
pub const MAX_DEPTH: usize = 64;

/// Everything KDL 2 (or a lenient reader of it) may take as a line end.
const NEWLINES: &[char] = &[
    '\n', '\r', '\u{85}', '\u{b}', '\u{c}', '\u{2028}', '\u{2029}',
];

/// The `manifest::too-deep` problem at the first brace (or comment opener) past
/// [`MAX_DEPTH`], if any.
pub fn check(text: &str) -> Option<Problem> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(too_deep(i, "`{ }` blocks"));
                }
                i += 1;
            }
            b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = text[i..]
                    .find(NEWLINES)
                    .map(|n| i + n)
                    .unwrap_or(bytes.len());
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => match block_comment(bytes, i) {
                Ok(end) => i = end,
                Err(at) => return Some(too_deep(at, "`/* */` comments")),
            },
            b'"' => i = quoted(bytes, i),
            b'#' => {
                let hashes = bytes[i..].iter().take_while(|&&b| b == b'#').count();
                i = if bytes.get(i + hashes) == Some(&b'"') {
                    raw(bytes, i + hashes, hashes)
                } else {
                    i + hashes
                };
            }
            _ => i += 1,
        }
    }
    None
}

fn too_deep(offset: usize, what: &str) -> Problem {
    Problem::error(
        "manifest::too-deep",
        format!("the manifest nests {what} more than {MAX_DEPTH} deep"),
        SourceSpan::from(offset..offset + 1),
        format!("level {} starts here", MAX_DEPTH + 1),
    )
    .with_help("a manifest needs two levels (`route \"/x\" module=\"m\" { … }`)")
}

/// From `/*` at `start`: the index after its matching `*/` (comments nest; the end of the text
/// when unterminated, which the parser reports), or the offset of the opener past the limit.
fn block_comment(bytes: &[u8], start: usize) -> Result<usize, usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(i);
                }
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => i += 1,
        }
    }
    Ok(bytes.len())
}

/// From `"` at `start` (a quoted or `"""` multi-line string): the index after its end.
fn quoted(bytes: &[u8], start: usize) -> usize {
    let multi = bytes[start..].starts_with(b"\"\"\"");
    let mut i = start + if multi { 3 } else { 1 };
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' if !multi => return i + 1,
            b'"' if bytes[i..].starts_with(b"\"\"\"") => return i + 3,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// From `"` at `quote`, after `hashes` `#`: the index after the raw string's end
/// (`"` or `"""`, then as many `#`); no escapes inside.
fn raw(bytes: &[u8], quote: usize, hashes: usize) -> usize {
    let multi = bytes[quote..].starts_with(b"\"\"\"");
    let close_quotes = if multi { 3 } else { 1 };
    let mut i = quote + close_quotes;
    while i < bytes.len() {
        if bytes[i..].starts_with(&b"\"\"\""[..close_quotes])
            && bytes[i + close_quotes..]
                .iter()
                .take(hashes)
                .filter(|&&b| b == b'#')
                .count()
                == hashes
        {
            return i + close_quotes + hashes;
        }
        i += 1;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        "a { ".repeat(levels) + &"} ".repeat(levels)
    }

    #[test]
    fn accepts_up_to_the_limit_and_points_at_the_first_brace_past_it() {
        assert!(check(&nested(MAX_DEPTH)).is_none());
        let p = check(&nested(1500)).expect("too deep");
        assert_eq!(p.code, "manifest::too-deep");
        assert_eq!(p.span.offset(), 4 * MAX_DEPTH + 2);
    }

    #[test]
    fn braces_in_strings_and_comments_do_not_count() {
        let deep = "{".repeat(200);
        for text in [
            format!("a \"{deep}\""),
            format!("a \"\\\"{deep}\""),
            format!("a \"\"\"\n\"{deep}\n\"\"\""),
            format!("a #\"\\\"{deep}\"#"),
            format!("a ##\"\"#{deep}\"##"),
            format!("a #\"\"\"\n\"#{deep}\n\"\"\"#"),
            format!("// {deep}\na 1"),
            format!("/* /* */ {deep} */ a 1"),
        ] {
            assert!(check(&text).is_none(), "{text}");
        }
        // A line comment ends at any line break; what follows is counted.
        assert!(check(&format!("// x\u{2028}{deep}")).is_some());
        assert!(check(&format!("a #true {deep}")).is_some());
    }

    #[test]
    fn deeply_nested_comments_are_refused_too() {
        let text = "/* ".repeat(100) + &"*/ ".repeat(100);
        assert_eq!(check(&text).unwrap().code, "manifest::too-deep");
    }
}
