//! The status and header fields of a `wasi:http` response, checked before Apache sees them.
//!
//! wasi:http already refuses invalid names and values when the guest builds its `fields`; this is
//! the server's own check, the same rules as for CGI output ([`crate::cgi_headers`]): a final
//! status from 200 to 599, no CR, LF, NUL or other control byte in a value, a token name, no
//! field that frames the response or the connection (dropped, and named in the log), and one
//! `Content-Length` the body is then held to. Repeated fields are kept, in order.

use crate::cgi_headers::{
    HeaderError, is_final_status, is_framing_field, is_token_byte, parse_content_length,
};

/// A response head Apache may send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status.
    pub status: u16,
    /// Every field kept, in order, repeated ones included.
    pub fields: Vec<(String, String)>,
    /// Fields dropped because they frame the response or the connection.
    pub dropped: Vec<String>,
    /// The declared `Content-Length`, which the body must match.
    pub content_length: Option<u64>,
}

/// Checks `status` and `fields` (name, raw value) as the guest set them.
pub fn check_response_head<'a>(
    status: u16,
    fields: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<ResponseHead, HeaderError> {
    if !is_final_status(status) {
        return Err(HeaderError::BadStatus {
            value: status.to_string(),
        });
    }
    let mut head = ResponseHead {
        status,
        fields: Vec::new(),
        dropped: Vec::new(),
        content_length: None,
    };
    for (line, (name, value)) in fields.into_iter().enumerate() {
        let line = line + 1;
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(HeaderError::Malformed { line });
        }
        if let Some(&byte) = value
            .iter()
            .find(|&&b| (b < 0x20 && b != b'\t') || b == 0x7f)
        {
            return Err(HeaderError::ForbiddenByte { line, byte });
        }
        let lower = name.to_ascii_lowercase();
        if is_framing_field(&lower) {
            head.dropped.push(name.to_string());
            continue;
        }
        let value = String::from_utf8_lossy(value).trim().to_string();
        if lower == "content-length" {
            let length = parse_content_length(&value)
                .filter(|l| head.content_length.is_none_or(|d| d == *l))
                .ok_or_else(|| HeaderError::BadContentLength {
                    value: value.chars().take(64).collect(),
                })?;
            if head.content_length.is_some() {
                continue;
            }
            head.content_length = Some(length);
        }
        head.fields.push((name.to_string(), value));
    }
    Ok(head)
}

/// Why a response head was refused, in the words of wasi:http (fields, not CGI lines).
pub fn describe(error: &HeaderError) -> String {
    match error {
        HeaderError::BadStatus { value } => {
            format!("status {value} refused (only final statuses 200 to 599)")
        }
        HeaderError::ForbiddenByte { line, byte } => format!(
            "header field {line} holds a forbidden byte 0x{byte:02x} (CR/LF injection or control byte)"
        ),
        HeaderError::Malformed { line } => format!("header field {line} has no valid name"),
        HeaderError::BadContentLength { value } => {
            format!("`content-length: {value}` is not one length")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: u16, fields: &[(&str, &str)]) -> Result<ResponseHead, HeaderError> {
        check_response_head(status, fields.iter().map(|(n, v)| (*n, v.as_bytes())))
    }

    #[test]
    fn keeps_repeated_fields_and_drops_framing() {
        let head = check(
            201,
            &[
                ("set-cookie", "a=1"),
                ("Connection", "close"),
                ("set-cookie", "b=2"),
                ("transfer-encoding", "chunked"),
                ("proxy-authenticate", "x"),
            ],
        )
        .unwrap();
        assert_eq!(head.status, 201);
        assert_eq!(
            head.fields,
            vec![
                ("set-cookie".to_string(), "a=1".to_string()),
                ("set-cookie".to_string(), "b=2".to_string())
            ]
        );
        assert_eq!(
            head.dropped,
            vec!["Connection", "transfer-encoding", "proxy-authenticate"]
        );
    }

    #[test]
    fn refuses_injection_bad_names_and_statuses() {
        assert!(matches!(
            check(200, &[("x", "a\r\nInjected: 1")]),
            Err(HeaderError::ForbiddenByte { byte: b'\r', .. })
        ));
        assert!(check(200, &[("x", "a\0b")]).is_err());
        assert!(check(200, &[("bad name", "v")]).is_err());
        assert!(check(200, &[("", "v")]).is_err());
        for status in [100, 101, 199, 600, 999] {
            assert!(check(status, &[]).is_err(), "{status}");
        }
        assert!(check(200, &[("x", "tab\tok")]).is_ok());
    }

    #[test]
    fn holds_one_content_length() {
        assert_eq!(
            check(200, &[("content-length", "12")])
                .unwrap()
                .content_length,
            Some(12)
        );
        let twice = check(200, &[("content-length", "3"), ("Content-Length", "3")]).unwrap();
        assert_eq!(twice.fields.len(), 1);
        assert!(check(200, &[("content-length", "3"), ("content-length", "4")]).is_err());
        assert!(check(200, &[("content-length", "-1")]).is_err());
        assert!(check(200, &[("content-length", "1 2")]).is_err());
    }
}
