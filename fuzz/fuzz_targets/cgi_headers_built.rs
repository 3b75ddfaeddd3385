//! Fuzz target: header blocks built from fuzzer-chosen `(name, value)` pairs, checked against an
//! independent model of what must be accepted.
//!
//! Each line is `name ":" value` ended by `\r\n` or `\n`, then an empty line and a body. The model
//! says the block is accepted exactly when every name is a non-empty RFC 9110 token, every value
//! (once a line's own CR before LF is dropped) holds no control byte but tab, and the block fits in
//! `MAX_HEADER_BLOCK`; and `find_header_end` must land exactly at the end of the empty line. A
//! refusal must name the first bad line. Values may carry CR, NUL, DEL, bytes >= 0x80 and colons:
//! the injection attempts a hostile module would print.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../runtime/src/cgi_headers.rs"]
mod cgi_headers;

use cgi_headers::{HeaderError, MAX_HEADER_BLOCK, check_header_block, find_header_end};

const TCHAR: &[u8] =
    b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

struct Line {
    name: Vec<u8>,
    value: Vec<u8>,
    crlf: bool,
}

impl Line {
    fn bytes(&self) -> Vec<u8> {
        let mut out = self.name.clone();
        out.push(b':');
        out.extend_from_slice(&self.value);
        out.extend_from_slice(if self.crlf { b"\r\n" } else { b"\n" });
        out
    }

    /// The model: is this line acceptable?
    fn acceptable(&self) -> bool {
        let name_ok = !self.name.is_empty() && self.name.iter().all(|b| TCHAR.contains(b));
        // A value ending in CR followed by our LF is a CRLF line: that CR is the terminator.
        let value = if self.crlf {
            &self.value[..]
        } else {
            self.value.strip_suffix(b"\r").unwrap_or(&self.value)
        };
        let value_ok = value
            .iter()
            .all(|&b| !((b < 0x20 && b != b'\t') || b == 0x7f));
        name_ok && value_ok
    }
}

/// A name: usually a token, sometimes with any byte but LF and colon.
fn name(u: &mut Unstructured) -> Result<Vec<u8>> {
    let len = u.int_in_range(0..=12)?;
    // `ratio` answers true once the input is used up: ask for the common case.
    let wild = !u.ratio(7, 8)?;
    (0..len)
        .map(|_| {
            if wild {
                let b: u8 = u.arbitrary()?;
                Ok(if b == b'\n' || b == b':' { b'x' } else { b })
            } else {
                Ok(*u.choose(TCHAR)?)
            }
        })
        .collect()
}

/// A value: printable text, with a fair chance of a hostile byte (never LF: that ends a line).
fn value(u: &mut Unstructured) -> Result<Vec<u8>> {
    let len = u.int_in_range(0..=24)?;
    (0..len)
        .map(|_| {
            Ok(match u.int_in_range(0..=15)? {
                0 => *u.choose(b"\r\0\x7f\x01\x1b\x0b\x0c")?,
                1 => b'\t',
                2 => b':',
                3 => u.int_in_range(0x80..=0xff)?,
                _ => u.int_in_range(0x20..=0x7e)?,
            })
        })
        .collect()
}

fn run(u: &mut Unstructured) -> Result<()> {
    let count = u.int_in_range(0..=16)?;
    let mut lines = Vec::with_capacity(count);
    for _ in 0..count {
        lines.push(Line {
            name: name(u)?,
            value: value(u)?,
            crlf: u.arbitrary()?,
        });
    }
    // Now and then (never on used-up input), pad past the size limit with valid lines.
    if !u.ratio(31, 32)? {
        let pad = u.int_in_range(900..=1100)?;
        for i in 0..pad {
            lines.push(Line {
                name: b"X-Pad".to_vec(),
                value: format!(" {i:060}").into_bytes(),
                crlf: true,
            });
        }
    }
    let final_crlf: bool = u.arbitrary()?;
    let body: Vec<u8> = u.arbitrary()?;

    let mut block = Vec::new();
    for line in &lines {
        block.extend_from_slice(&line.bytes());
    }
    block.extend_from_slice(if final_crlf { b"\r\n" } else { b"\n" });
    let mut output = block.clone();
    output.extend_from_slice(&body);

    // Every line holds a colon, so none is empty: the block ends exactly where we ended it.
    assert_eq!(
        find_header_end(&output),
        Some(block.len()),
        "wrong end of headers"
    );

    let verdict = check_header_block(&block);
    let first_bad = lines.iter().position(|l| !l.acceptable());
    match (block.len() > MAX_HEADER_BLOCK, first_bad) {
        (true, _) => assert_eq!(verdict, Err(HeaderError::TooLarge)),
        (false, None) => assert_eq!(verdict, Ok(()), "a valid block was refused"),
        (false, Some(i)) => match verdict {
            Err(HeaderError::ForbiddenByte { line, .. }) | Err(HeaderError::Malformed { line }) => {
                assert_eq!(line, i + 1, "the refusal names the wrong line")
            }
            other => panic!("line {} is bad, yet the verdict is {other:?}", i + 1),
        },
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
