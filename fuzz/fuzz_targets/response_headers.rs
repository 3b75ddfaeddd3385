//! Fuzz target: the response-header filter (`filter_header_block`) that keeps a module from
//! framing the response.
//!
//! Properties (beyond "no panic"):
//! - the filter accepts only what `check_header_block` accepts;
//! - an accepted result is itself a valid block, made of lines of the input in their order
//!   (only whole lines are removed, nothing is added or changed);
//! - no hop-by-hop or `Proxy-*` field survives, and every removed line is named in `dropped`;
//! - a kept `Status:` is a final status 200–599; a kept `Content-Length:` is digits only and is
//!   the `content_length` reported.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../runtime/src/cgi_headers.rs"]
mod cgi_headers;

use cgi_headers::{check_header_block, filter_header_block, find_header_end};

const HOP: &[&str] = &["connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"];

fn lines(block: &[u8]) -> Vec<&[u8]> {
    block.split_inclusive(|&b| b == b'\n').collect()
}

fn name_of(line: &[u8]) -> String {
    let colon = line.iter().position(|&b| b == b':').unwrap_or(line.len());
    String::from_utf8_lossy(&line[..colon]).to_ascii_lowercase()
}

fuzz_target!(|data: &[u8]| {
    let Some(end) = find_header_end(data) else {
        return;
    };
    let block = &data[..end];
    let filtered = filter_header_block(block);
    let Ok(filtered) = filtered else {
        return;
    };
    assert!(check_header_block(block).is_ok(), "the filter accepted what the checker refuses");
    assert_eq!(check_header_block(&filtered.block), Ok(()), "the filtered block is not valid");

    // The output is the input with whole lines removed, in order.
    let input = lines(block);
    let output = lines(&filtered.block);
    let mut at = 0;
    let mut removed = Vec::new();
    for line in &output {
        while input[at] != *line {
            removed.push(input[at]);
            at += 1;
        }
        at += 1;
    }
    assert_eq!(at, input.len(), "the filter kept something after the end of the headers");
    let removed_names: Vec<String> = removed.iter().map(|l| name_of(l)).collect();
    let dropped: Vec<String> = filtered.dropped.iter().map(|n| n.to_ascii_lowercase()).collect();
    assert_eq!(removed_names, dropped, "removed lines and `dropped` disagree");
    for name in &removed_names {
        assert!(HOP.contains(&name.as_str()) || name.starts_with("proxy-"), "removed {name}");
    }

    let mut length = None;
    for line in &output {
        let name = name_of(line);
        let value = String::from_utf8_lossy(&line[name.len().min(line.len())..]).into_owned();
        let value = value.trim_start_matches(':').trim();
        assert!(!HOP.contains(&name.as_str()) && !name.starts_with("proxy-"), "kept {name}");
        if name == "status" {
            let code: u16 = value[..3].parse().expect("a kept status starts with 3 digits");
            assert!((200..=599).contains(&code), "kept status {code}");
        }
        if name == "content-length" {
            assert!(value.bytes().all(|b| b.is_ascii_digit()) && !value.is_empty());
            length = Some(value.parse::<u64>().expect("a kept length is a number"));
        }
    }
    assert_eq!(length, filtered.content_length, "content_length is not the kept value");
});
