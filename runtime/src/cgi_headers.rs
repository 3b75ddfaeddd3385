//! Finding and checking the CGI header block at the start of a module's output.
//!
//! Apache parses the headers themselves (`ap_scan_script_header_err_brigade_ex`, as mod_cgi);
//! this file decides where the block ends and refuses blocks that could smuggle anything past
//! that parser: NUL, a CR that does not end a line, other control bytes, lines that are not
//! `Name: value`, or a block larger than [`MAX_HEADER_BLOCK`]. It has no dependencies so the
//! fuzz targets can include it directly.

/// The largest header block accepted.
pub const MAX_HEADER_BLOCK: usize = 64 * 1024;
/// The longest header line accepted: Apache's parser holds a line in `MAX_STRING_LEN` (8192)
/// bytes with its terminator, and answers a longer one with a misleading 502.
pub const MAX_HEADER_LINE: usize = 8190;

/// Response headers a module may not set: they frame the response or the connection, which is
/// Apache's job (RFC 9110 §7.6.1 hop-by-hop fields, plus `Transfer-Encoding`); `Proxy-*` too.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
];

/// Whether a response field (lower-case name) frames the response or the connection, which is
/// Apache's job: hop-by-hop fields, `Transfer-Encoding`, `Proxy-*`. Such fields are dropped.
pub fn is_framing_field(lower_name: &str) -> bool {
    HOP_BY_HOP.contains(&lower_name) || lower_name.starts_with("proxy-")
}

/// Where the header block ends in `buf`, if it does: the length of the block including the
/// empty line that ends it (`\n\n`, `\r\n\r\n` or a mix).
pub fn find_header_end(buf: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' {
            let line = &buf[line_start..i];
            if line.is_empty() || line == b"\r" {
                return Some(i + 1);
            }
            line_start = i + 1;
        }
    }
    None
}

/// Why a header block was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Larger than [`MAX_HEADER_BLOCK`] without an end.
    TooLarge,
    /// The output ended before the empty line that ends the headers.
    Unterminated,
    /// A byte that must not appear in a header (line, byte offset, byte).
    ForbiddenByte {
        /// 1-based line number.
        line: usize,
        /// The byte.
        byte: u8,
    },
    /// A line that is not `Name: value` (1-based line number).
    Malformed {
        /// 1-based line number.
        line: usize,
    },
    /// A line longer than [`MAX_HEADER_LINE`].
    LineTooLong {
        /// 1-based line number.
        line: usize,
    },
    /// A `Status:` that is not a final status from 200 to 599.
    BadStatus {
        /// The value as written (cut to 64 bytes).
        value: String,
    },
    /// A `Content-Length:` that is not one whole number (or two that differ).
    BadContentLength {
        /// The value as written (cut to 64 bytes).
        value: String,
    },
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::TooLarge => {
                write!(f, "CGI header block larger than {MAX_HEADER_BLOCK} bytes")
            }
            HeaderError::Unterminated => {
                write!(
                    f,
                    "output ended before the end of the CGI headers (no empty line)"
                )
            }
            HeaderError::ForbiddenByte { line, byte } => write!(
                f,
                "CGI header line {line} holds a forbidden byte 0x{byte:02x} (CR/LF injection or control byte)"
            ),
            HeaderError::Malformed { line } => {
                write!(f, "CGI header line {line} is not `Name: value`")
            }
            HeaderError::LineTooLong { line } => {
                write!(
                    f,
                    "CGI header line {line} is longer than {MAX_HEADER_LINE} bytes"
                )
            }
            HeaderError::BadStatus { value } => write!(
                f,
                "CGI `Status: {value}` refused (only final statuses 200 to 599)"
            ),
            HeaderError::BadContentLength { value } => {
                write!(f, "CGI `Content-Length: {value}` is not a length")
            }
        }
    }
}

/// Checks a complete header block (as returned by [`find_header_end`]).
pub fn check_header_block(block: &[u8]) -> Result<(), HeaderError> {
    if block.len() > MAX_HEADER_BLOCK {
        return Err(HeaderError::TooLarge);
    }
    for (index, raw) in block.split_inclusive(|&b| b == b'\n').enumerate() {
        let number = index + 1;
        let Some(line) = raw.strip_suffix(b"\n") else {
            // A last line without its newline: the block never ended.
            break;
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Ok(());
        }
        if line.len() > MAX_HEADER_LINE {
            return Err(HeaderError::LineTooLong { line: number });
        }
        for &byte in line {
            if (byte < 0x20 && byte != b'\t') || byte == 0x7f {
                return Err(HeaderError::ForbiddenByte { line: number, byte });
            }
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(HeaderError::Malformed { line: number })?;
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| is_token_byte(b)) {
            return Err(HeaderError::Malformed { line: number });
        }
    }
    Err(HeaderError::Unterminated)
}

/// A checked header block with what a module may not set taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilteredHeaders {
    /// The block to hand to the server's parser (ends with its empty line).
    pub block: Vec<u8>,
    /// Names of the fields dropped (hop-by-hop, framing), in order.
    pub dropped: Vec<String>,
    /// The module's `Content-Length`, which its body must then match exactly.
    pub content_length: Option<u64>,
}

/// Checks `block` ([`check_header_block`]) and filters it: hop-by-hop and `Proxy-*` fields are
/// dropped, `Status` must be 200–599, `Content-Length` must be one number (it is kept, and the
/// caller holds the body to it).
pub fn filter_header_block(block: &[u8]) -> Result<FilteredHeaders, HeaderError> {
    check_header_block(block)?;
    let mut out = FilteredHeaders {
        block: Vec::with_capacity(block.len()),
        dropped: Vec::new(),
        content_length: None,
    };
    for raw in block.split_inclusive(|&b| b == b'\n') {
        let line = raw.strip_suffix(b"\n").unwrap_or(raw);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            out.block.extend_from_slice(raw);
            break;
        }
        // check_header_block proved there is a colon and a token name before it.
        let colon = line.iter().position(|&b| b == b':').unwrap_or(0);
        let name = String::from_utf8_lossy(&line[..colon]).to_ascii_lowercase();
        let value = String::from_utf8_lossy(&line[colon + 1..])
            .trim()
            .to_string();
        if is_framing_field(&name) {
            out.dropped
                .push(String::from_utf8_lossy(&line[..colon]).into_owned());
            continue;
        }
        match name.as_str() {
            "status" => check_status(&value)?,
            "content-length" => {
                let length = parse_content_length(&value)
                    .ok_or_else(|| HeaderError::BadContentLength { value: cut(&value) })?;
                if out.content_length.is_some_and(|l| l != length) {
                    return Err(HeaderError::BadContentLength { value: cut(&value) });
                }
                out.content_length = Some(length);
            }
            _ => {}
        }
        out.block.extend_from_slice(raw);
    }
    Ok(out)
}

/// Whether `code` is a status a response may end with (final, 200 to 599).
pub fn is_final_status(code: u16) -> bool {
    (200..=599).contains(&code)
}

fn check_status(value: &str) -> Result<(), HeaderError> {
    let code = value.split_ascii_whitespace().next().unwrap_or("");
    let ok = code.len() == 3
        && code.bytes().all(|b| b.is_ascii_digit())
        && code.parse::<u16>().is_ok_and(is_final_status);
    if ok {
        Ok(())
    } else {
        Err(HeaderError::BadStatus { value: cut(value) })
    }
}

fn cut(value: &str) -> String {
    value.chars().take(64).collect()
}

/// A `Content-Length` value: digits only, one number.
pub fn parse_content_length(value: &str) -> Option<u64> {
    value
        .parse::<u64>()
        .ok()
        .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
}

/// RFC 9110 `tchar`.
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_end_with_lf_and_crlf() {
        assert_eq!(find_header_end(b"A: b\n\nbody"), Some(6));
        assert_eq!(find_header_end(b"A: b\r\n\r\nbody"), Some(8));
        assert_eq!(find_header_end(b"A: b\r\nC: d\n\r\nx"), Some(13));
        assert_eq!(find_header_end(b"\nbody"), Some(1));
        assert_eq!(find_header_end(b"A: b\r\nC: d"), None);
        assert_eq!(find_header_end(b""), None);
    }

    #[test]
    fn accepts_ordinary_headers() {
        let block =
            b"Status: 201 Created\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Tab:\tok\r\n\r\n";
        assert_eq!(check_header_block(block), Ok(()));
        assert_eq!(check_header_block(b"\n"), Ok(()));
    }

    #[test]
    fn refuses_injection_and_garbage() {
        assert_eq!(
            check_header_block(b"X-A: a\rSet-Cookie: evil\n\n"),
            Err(HeaderError::ForbiddenByte {
                line: 1,
                byte: b'\r'
            })
        );
        assert_eq!(
            check_header_block(b"X-A: a\0b\n\n"),
            Err(HeaderError::ForbiddenByte { line: 1, byte: 0 })
        );
        assert_eq!(
            check_header_block(b"Content-Type: text/plain\nno colon here\n\n"),
            Err(HeaderError::Malformed { line: 2 })
        );
        assert_eq!(
            check_header_block(b"Bad Name: x\n\n"),
            Err(HeaderError::Malformed { line: 1 })
        );
        assert_eq!(
            check_header_block(b"A: b\n"),
            Err(HeaderError::Unterminated)
        );
        let huge = vec![b'a'; MAX_HEADER_BLOCK + 1];
        assert_eq!(check_header_block(&huge), Err(HeaderError::TooLarge));
        let long_line = format!("X-Long: {}\n\n", "a".repeat(MAX_HEADER_LINE));
        assert_eq!(
            check_header_block(long_line.as_bytes()),
            Err(HeaderError::LineTooLong { line: 1 })
        );
    }

    #[test]
    fn drops_framing_and_hop_by_hop_fields() {
        let block = b"Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\
Keep-Alive: timeout=5\r\nUpgrade: h2c\r\nTrailer: X\r\nProxy-Connection: x\r\nTE: trailers\r\nX-Ok: 1\r\n\r\n";
        let filtered = filter_header_block(block).unwrap();
        assert_eq!(
            filtered.block,
            b"Content-Type: text/plain\r\nX-Ok: 1\r\n\r\n".to_vec()
        );
        assert_eq!(
            filtered.dropped,
            [
                "Transfer-Encoding",
                "Connection",
                "Keep-Alive",
                "Upgrade",
                "Trailer",
                "Proxy-Connection",
                "TE"
            ]
        );
        assert_eq!(filtered.content_length, None);
    }

    #[test]
    fn statuses_outside_200_to_599_are_refused() {
        for ok in ["200", "201 Created", "302 Found", "404", "599 x"] {
            let block = format!("Status: {ok}\n\n");
            assert!(filter_header_block(block.as_bytes()).is_ok(), "{ok}");
        }
        for bad in [
            "100",
            "101 Switching Protocols",
            "199",
            "600",
            "99",
            "2000",
            "abc",
            "",
        ] {
            let block = format!("Status: {bad}\n\n");
            assert!(
                matches!(
                    filter_header_block(block.as_bytes()),
                    Err(HeaderError::BadStatus { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn content_length_is_kept_and_checked() {
        let filtered = filter_header_block(b"Content-Length: 12\n\n").unwrap();
        assert_eq!(filtered.content_length, Some(12));
        assert_eq!(filtered.block, b"Content-Length: 12\n\n".to_vec());
        for bad in ["-1", "1 2", "0x10", "", "99999999999999999999999"] {
            let block = format!("Content-Length: {bad}\n\n");
            assert!(
                filter_header_block(block.as_bytes()).is_err(),
                "{bad:?} accepted"
            );
        }
        assert!(filter_header_block(b"Content-Length: 1\nContent-Length: 2\n\n").is_err());
        assert!(filter_header_block(b"Content-Length: 2\nContent-Length: 2\n\n").is_ok());
    }
}
