//! Fuzz target: arbitrary module output against the CGI header-block finder and checker.
//!
//! Properties (beyond "no panic"):
//! - `find_header_end` returns an end on a `\n` inside the buffer, and it is the *first* one:
//!   the prefix one byte shorter has no end, the prefix up to it has the same end;
//! - the outcome does not depend on how the output was cut into writes (the runtime re-scans
//!   its growing buffer after every write, refusing it once it passes `MAX_HEADER_BLOCK`);
//! - `check_header_block` agrees with `find_header_end`: no end means never `Ok`; an end means
//!   never `Unterminated`, and what follows the block (the body) cannot change the verdict;
//! - an accepted block holds no byte Apache's line reader could split differently: every CR sits
//!   right before a LF, no NUL or other control byte, every line before the empty one is `Name: value`;
//! - an error names a line that exists, and a forbidden byte that is on that line.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../runtime/src/cgi_headers.rs"]
mod cgi_headers;

use cgi_headers::{HeaderError, MAX_HEADER_BLOCK, check_header_block, find_header_end};

/// What the runtime decides for a whole output, written in the given pieces (as `streams.rs`).
#[derive(Debug, PartialEq)]
enum Outcome {
    Accepted(usize),
    Refused(HeaderError),
    Incomplete,
}

fn streamed(data: &[u8], cuts: &[usize]) -> Outcome {
    let mut buf = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&data.len())) {
        let cut = cut.clamp(start, data.len());
        buf.extend_from_slice(&data[start..cut]);
        start = cut;
        match find_header_end(&buf) {
            None if buf.len() > MAX_HEADER_BLOCK => return Outcome::Refused(HeaderError::TooLarge),
            None => {}
            Some(end) => {
                return match check_header_block(&buf[..end]) {
                    Ok(()) => Outcome::Accepted(end),
                    Err(e) => Outcome::Refused(e),
                };
            }
        }
    }
    Outcome::Incomplete
}

fn check_error_location(block: &[u8], err: &HeaderError) {
    let lines: Vec<&[u8]> = block.split(|&b| b == b'\n').collect();
    match err {
        HeaderError::ForbiddenByte { line, byte } => {
            assert!(*line >= 1 && *line <= lines.len(), "{err:?} names no line");
            let text = lines[*line - 1];
            assert!(text.contains(byte), "{err:?}: byte not on line {:?}", text);
            assert!(*byte < 0x20 || *byte == 0x7f, "{err:?}: not a control byte");
            assert_ne!(*byte, b'\t', "a tab is allowed");
        }
        HeaderError::Malformed { line } => {
            assert!(*line >= 1 && *line <= lines.len(), "{err:?} names no line");
        }
        HeaderError::LineTooLong { line } => {
            assert!(*line >= 1 && *line <= lines.len(), "{err:?} names no line");
            let text = lines[*line - 1];
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            assert!(text.len() > cgi_headers::MAX_HEADER_LINE, "{err:?}: the line is short");
        }
        HeaderError::TooLarge | HeaderError::Unterminated => {}
        HeaderError::BadStatus { .. } | HeaderError::BadContentLength { .. } => {
            panic!("check_header_block judged a value: {err:?}")
        }
    }
}

fn check_accepted_block(block: &[u8]) {
    assert_eq!(block.last(), Some(&b'\n'));
    let body = &block[..block.len() - 1];
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    assert!(
        body.is_empty() || body.ends_with(b"\n"),
        "block must end with an empty line"
    );
    for (i, &b) in block.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(block.get(i + 1), Some(&b'\n'), "bare CR accepted at {i}"),
            b'\n' | b'\t' => {}
            0..=0x1f | 0x7f => panic!("control byte 0x{b:02x} accepted at {i}"),
            _ => {}
        }
    }
    let lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    // The last piece after the final LF of `body` is empty (the block's own end).
    for line in &lines[..lines.len().saturating_sub(1)] {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .expect("accepted line without a colon");
        assert!(colon > 0, "accepted line with an empty name");
        assert!(
            line[..colon].iter().all(|&b| b.is_ascii_graphic()),
            "accepted a name with spaces or non-ASCII: {:?}",
            &line[..colon]
        );
    }
}

fuzz_target!(|input: &[u8]| {
    // The first bytes choose up to 4 write boundaries; the rest is the module's output.
    let (cuts, data) = if input.len() >= 4 {
        let cuts: Vec<usize> = input[..4].iter().map(|&b| b as usize * 16).collect();
        (cuts, &input[4..])
    } else {
        (Vec::new(), input)
    };
    let mut cuts = cuts;
    cuts.sort_unstable();

    let end = find_header_end(data);
    let whole = check_header_block(data);
    match end {
        Some(n) => {
            assert!(n >= 1 && n <= data.len());
            assert_eq!(data[n - 1], b'\n');
            assert_eq!(
                find_header_end(&data[..n - 1]),
                None,
                "an earlier end was skipped"
            );
            assert_eq!(find_header_end(&data[..n]), Some(n));
            let block = &data[..n];
            let verdict = check_header_block(block);
            assert_ne!(
                verdict,
                Err(HeaderError::Unterminated),
                "found an end the checker does not see"
            );
            if n <= MAX_HEADER_BLOCK {
                assert_ne!(verdict, Err(HeaderError::TooLarge));
            } else {
                assert_eq!(verdict, Err(HeaderError::TooLarge));
            }
            if data.len() <= MAX_HEADER_BLOCK {
                assert_eq!(
                    whole, verdict,
                    "the body after the block changed the verdict"
                );
            }
            match &verdict {
                Ok(()) => check_accepted_block(block),
                Err(e) => check_error_location(block, e),
            }
        }
        None => {
            assert!(
                whole.is_err(),
                "no end of headers, yet the checker accepted"
            );
            if let Err(e) = &whole {
                check_error_location(data, e);
            }
        }
    }

    // Cutting the output into writes changes nothing.
    assert_eq!(
        streamed(data, &cuts),
        streamed(data, &[]),
        "chunking changed the outcome"
    );
});
