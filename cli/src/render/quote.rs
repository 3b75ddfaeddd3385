//! Quoting of directive arguments for httpd.conf.
//!
//! Apache's `ap_getword_conf` reads a double-quoted word and turns `\\` into `\` and `\"` into
//! `"`; nothing else is special inside quotes. Values with control characters or `${` are refused
//! earlier (see `manifest::reader::config_unsafe`).

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

/// `On` or `Off`.
pub fn on_off(value: bool) -> &'static str {
    if value { "On" } else { "Off" }
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn escapes_backslashes_and_quotes() {
        assert_eq!(quote("/srv/a b"), r#""/srv/a b""#);
        assert_eq!(quote(r#"say "hi"\n"#), r#""say \"hi\"\\n""#);
        assert_eq!(quote(""), r#""""#);
    }
}
