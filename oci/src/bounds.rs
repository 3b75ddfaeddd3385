//! How much of a registry's answer is read, and for how long: every size and time bound of
//! registry I/O in one place.
//!
//! - Manifests, image indexes, signature manifests and bundle configs: at most
//!   [`MAX_MANIFEST_SIZE`] (4 MiB, what containerd and docker read), refused the moment a
//!   streaming body passes it, or before any byte is read when its `Content-Length` (or its
//!   descriptor's size) says more.
//! - Module layers: their declared size is checked against the module-size limit
//!   ([`DEFAULT_MAX_BLOB_SIZE`], the runtime's `module-size` default; the CLI passes the
//!   manifest's) before any download, and a download stops at the declared size.
//! - Error bodies: the first [`MAX_ERROR_BODY`] bytes, the rest never read.
//! - Time: every registry operation (a resolve, a pull of a manifest and its blobs, a push, a
//!   sign, a verify, a login check) has one total deadline, [`DEFAULT_TIMEOUT`] unless the caller
//!   sets one, on top of a [`CONNECT_TIMEOUT`] per connection; see [`crate::deadline`].

use std::time::Duration;

use crate::error::{Error, Result};

/// Largest manifest, index, signature manifest or bundle config read.
pub const MAX_MANIFEST_SIZE: u64 = 4 << 20;
/// Default largest module layer: the runtime's default `module-size` compile limit (the CLI
/// passes the limit in effect; a test of the CLI checks the two agree).
pub const DEFAULT_MAX_BLOB_SIZE: u64 = 256 << 20;
/// The most of an error response's body that is read (for its message).
pub const MAX_ERROR_BODY: u64 = 64 << 10;
/// Default total deadline of one registry operation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// Deadline of each TCP (and TLS) connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest wait for any single read (a registry that sends nothing at all); the total deadline
/// covers one that sends a byte now and then.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// `4 MiB (4194304 bytes)`, `1000 bytes`.
pub fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB ({bytes} bytes)", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// `5m`, `2s`, `1500ms`: the way `--registry-timeout` takes it.
pub fn duration_text(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 || !ms.is_multiple_of(1000) {
        format!("{ms}ms")
    } else if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else {
        format!("{}s", ms / 1000)
    }
}

/// Reads `response`'s body, at most `limit` bytes: refused unread when its `Content-Length`
/// says more, and the moment the stream passes `limit` otherwise. `what` and `registry` name
/// it in the error.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    limit: u64,
    registry: &str,
    what: &str,
) -> Result<Vec<u8>> {
    let too_large = |declared| Error::TooLarge {
        registry: registry.to_string(),
        what: what.to_string(),
        limit,
        declared,
    };
    if let Some(n) = response.content_length()
        && n > limit
    {
        return Err(too_large(Some(n)));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| crate::fetch::transport_error(&e, registry))?
    {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_large(None));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The first [`MAX_ERROR_BODY`] bytes of an error response (what arrives of them); the rest is
/// never read.
pub(crate) async fn read_prefix(mut response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = (MAX_ERROR_BODY as usize).saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() as u64 >= MAX_ERROR_BODY {
            break;
        }
    }
    body
}

/// Refuses a blob whose declared `size` passes `limit`, before any of it is requested.
pub(crate) fn check_declared(size: u64, limit: u64, registry: &str, what: &str) -> Result<()> {
    if size > limit {
        return Err(Error::TooLarge {
            registry: registry.to_string(),
            what: what.to_string(),
            limit,
            declared: Some(size),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_as_written() {
        assert_eq!(size_text(MAX_MANIFEST_SIZE), "4 MiB (4194304 bytes)");
        assert_eq!(size_text(1000), "1000 bytes");
        assert_eq!(duration_text(DEFAULT_TIMEOUT), "5m");
        assert_eq!(duration_text(Duration::from_secs(2)), "2s");
        assert_eq!(duration_text(Duration::from_millis(1500)), "1500ms");
        assert_eq!(duration_text(Duration::from_secs(7200)), "2h");
    }

    #[test]
    fn a_declared_size_over_the_limit_is_refused() {
        assert!(check_declared(10, 10, "r", "x").is_ok());
        let err = check_declared(11, 10, "r", "layer x").unwrap_err();
        assert_eq!(err.code(), "oci::too-large");
        assert!(err.to_string().contains("declares 11 bytes"), "{err}");
    }
}
