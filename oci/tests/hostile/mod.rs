//! A hostile registry of the tests' own, on loopback: a plain `std::net` HTTP/1.1 server whose
//! every answer a test chooses — an endless body, a body longer than it declared, one byte every
//! few seconds — and which counts the body bytes it managed to send before the client hung up,
//! so a test can prove the client stopped reading, not only that it failed.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mod_wasm_oci::{Digest, OciReference};

/// What a response body is.
pub enum Body {
    /// These bytes, with their `Content-Length`.
    Bytes(Vec<u8>),
    /// `len` copies of `byte`, written in 64 KiB pieces: chunked when `declared` is `None`, else
    /// with `Content-Length: declared` (a lie when it differs from `len`).
    Flood {
        len: u64,
        byte: u8,
        declared: Option<u64>,
    },
    /// `Content-Length: len`, then one byte of `byte` every `every`.
    Trickle { len: u64, byte: u8, every: Duration },
}

/// One response.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Reply {
    /// 200 with `body` of `content_type`.
    pub fn ok(content_type: &str, body: Vec<u8>) -> Reply {
        Reply {
            status: 200,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: Body::Bytes(body),
        }
    }

    /// 200 with `body` of `content_type`.
    pub fn body(content_type: &str, body: Body) -> Reply {
        Reply {
            status: 200,
            headers: vec![("Content-Type".into(), content_type.into())],
            body,
        }
    }

    /// An OCI error envelope with `status`.
    pub fn error(status: u16, code: &str, message: &str) -> Reply {
        let body = serde_json::to_vec(&serde_json::json!({
            "errors": [{"code": code, "message": message}]
        }))
        .unwrap();
        Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Body::Bytes(body),
        }
    }

    /// 404 `MANIFEST_UNKNOWN`/`BLOB_UNKNOWN`.
    pub fn not_found() -> Reply {
        Reply::error(404, "MANIFEST_UNKNOWN", "not here")
    }
}

type Route = dyn Fn(&str, &str) -> Reply + Send + Sync;

/// A running hostile registry; stops accepting when dropped.
pub struct Hostile {
    pub addr: String,
    sent: Arc<AtomicU64>,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Hostile {
    /// Serves `GET /v2/` itself (200, no authentication) and every other request with `route`
    /// (method, path with query).
    pub fn start(route: impl Fn(&str, &str) -> Reply + Send + Sync + 'static) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().unwrap().to_string();
        let sent = Arc::new(AtomicU64::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let route: Arc<Route> = Arc::new(route);
        {
            let (sent, requests, stop) = (sent.clone(), requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (sent, requests, route) = (sent.clone(), requests.clone(), route.clone());
                    std::thread::spawn(move || serve(conn, &*route, &sent, &requests));
                }
            });
        }
        Hostile {
            addr,
            sent,
            requests,
            stop,
        }
    }

    /// Body bytes written to clients so far (what the kernel accepted before they hung up).
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    /// Every request line so far: `GET /v2/…`.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// Requests whose path contains `part`.
    pub fn requests_for(&self, part: &str) -> usize {
        self.requests().iter().filter(|r| r.contains(part)).count()
    }

    /// `oci://ADDR/REPO_AND_TAG`.
    pub fn reference(&self, repo_and_tag: &str) -> OciReference {
        format!("oci://{}/{repo_and_tag}", self.addr)
            .parse()
            .unwrap()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(&self.addr);
    }
}

fn serve(mut conn: TcpStream, route: &Route, sent: &AtomicU64, requests: &Mutex<Vec<String>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let line = head.lines().next().unwrap_or("").to_string();
    let mut words = line.split_whitespace();
    let (method, path) = (
        words.next().unwrap_or("").to_string(),
        words.next().unwrap_or("").to_string(),
    );
    requests.lock().unwrap().push(format!("{method} {path}"));
    let reply = if path == "/v2/" || path == "/v2" {
        Reply::ok("application/json", b"{}".to_vec())
    } else {
        route(&method, &path)
    };
    let _ = write_reply(&mut conn, &method, reply, sent);
}

fn write_reply(
    conn: &mut TcpStream,
    method: &str,
    reply: Reply,
    sent: &AtomicU64,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} Hostile\r\nConnection: close\r\n", reply.status);
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    match &reply.body {
        Body::Bytes(b) => head.push_str(&format!("Content-Length: {}\r\n", b.len())),
        Body::Flood {
            declared: Some(n), ..
        } => head.push_str(&format!("Content-Length: {n}\r\n")),
        Body::Flood { declared: None, .. } => head.push_str("Transfer-Encoding: chunked\r\n"),
        Body::Trickle { len, .. } => head.push_str(&format!("Content-Length: {len}\r\n")),
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())?;
    if method == "HEAD" {
        return Ok(());
    }
    match reply.body {
        Body::Bytes(b) => {
            conn.write_all(&b)?;
            sent.fetch_add(b.len() as u64, Ordering::SeqCst);
        }
        Body::Flood {
            len,
            byte,
            declared,
        } => {
            let piece = vec![byte; 64 * 1024];
            let mut left = len;
            while left > 0 {
                let n = left.min(piece.len() as u64) as usize;
                if declared.is_none() {
                    conn.write_all(format!("{n:x}\r\n").as_bytes())?;
                }
                write_counted(conn, &piece[..n], sent)?;
                if declared.is_none() {
                    conn.write_all(b"\r\n")?;
                }
                left -= n as u64;
            }
            if declared.is_none() {
                conn.write_all(b"0\r\n\r\n")?;
            }
        }
        Body::Trickle { len, byte, every } => {
            for _ in 0..len {
                write_counted(conn, &[byte], sent)?;
                conn.flush()?;
                std::thread::sleep(every);
            }
        }
    }
    conn.flush()
}

/// Writes `bytes`, counting each byte the kernel took.
fn write_counted(conn: &mut TcpStream, mut bytes: &[u8], sent: &AtomicU64) -> std::io::Result<()> {
    while !bytes.is_empty() {
        let n = conn.write(bytes)?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        sent.fetch_add(n as u64, Ordering::SeqCst);
        bytes = &bytes[n..];
    }
    Ok(())
}

/// The CNCF module manifest naming a layer of `digest` and `size` (the config is never fetched
/// for a module pull).
pub fn module_manifest(digest: &Digest, size: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.wasm.config.v0+json",
            "digest": Digest::of(b"{}").to_string(),
            "size": 2,
        },
        "layers": [{"mediaType": "application/wasm", "digest": digest.to_string(), "size": size}],
    }))
    .unwrap()
}

/// The media type of an OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Runs `f` on its own thread; panics when it has not returned within `guard` (a hang), else
/// returns its value. Used as a "did not hang" guard, never as a precise timing.
pub fn within<T: Send + 'static>(guard: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(guard)
        .unwrap_or_else(|_| panic!("the operation was still running after {guard:?}: it hangs"))
}
