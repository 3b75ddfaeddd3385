//! Finding and checking the CGI header block at the start of a module's output.
//!
//! Apache parses the headers themselves (`ap_scan_script_header_err_brigade_ex`, as mod_cgi);
//! this file decides where the block ends and refuses blocks that could smuggle anything past
//! that parser: NUL, a CR that does not end a line, other control bytes, lines that are not
//! `Name: value`, or a block larger than [`MAX_HEADER_BLOCK`]. It has no dependencies so the
//! fuzz targets can include it directly.

/// The largest header block accepted (Apache's own limit per line is 8 KiB).
pub const MAX_HEADER_BLOCK: usize = 64 * 1024;

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

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
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
    }
}
