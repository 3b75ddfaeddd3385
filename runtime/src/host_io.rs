//! The host's side of one request: where the body comes from and where output goes.
//!
//! The C API adapts Apache's callbacks to [`HostIo`]; Rust tests use an in-memory one.

use std::time::Duration;

/// What the host answers when it receives the CGI header block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadersAnswer {
    /// Keep sending the body.
    Continue,
    /// Headers taken, body not wanted (e.g. a local redirect).
    DiscardBody,
    /// Headers refused: stop the module.
    Abort,
}

/// The request body could not be read (the host knows why and which status to send).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyReadError;

/// The client went away (or the host otherwise cannot take more output).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientGone;

/// One request's streams, implemented by the host. Called only on the thread running the
/// request.
pub trait HostIo {
    /// Reads request body bytes into `buf`, waiting at most `time_left` (the module's deadline);
    /// `Ok(0)` at the end of the body. An error ends the module's input.
    fn read_body(&mut self, buf: &mut [u8], time_left: Duration) -> Result<usize, BodyReadError>;
    /// CGI mode: the complete, checked header block, once, before any body.
    fn write_headers(&mut self, block: &[u8]) -> HeadersAnswer;
    /// wasi:http handlers: the response status and header fields, checked
    /// ([`crate::response_head`]), repeated ones kept in order; once, before any body.
    fn write_head(&mut self, status: u16, fields: &[(String, String)]) -> HeadersAnswer;
    /// Response body bytes.
    fn write_body(&mut self, bytes: &[u8]) -> Result<(), ClientGone>;
    /// One line of the module's stderr, without its newline.
    fn log_stderr(&mut self, line: &[u8]);
    /// A notice about this request from the runtime (e.g. header fields it dropped).
    fn log_notice(&mut self, message: &str) {
        let _ = message;
    }
    /// Pushes the body passed so far to the client now (called before the module may block
    /// on the request body).
    fn flush(&mut self) -> Result<(), ClientGone> {
        Ok(())
    }
}

/// An in-memory [`HostIo`]: a fixed body in, everything out collected. For tests and tools.
#[derive(Debug, Default)]
pub struct MemoryIo {
    /// The request body the module reads.
    pub body: Vec<u8>,
    /// How much of `body` has been read.
    pub body_pos: usize,
    /// The header block received (CGI mode).
    pub headers: Option<Vec<u8>>,
    /// The status and fields received (wasi:http handlers).
    pub head: Option<(u16, Vec<(String, String)>)>,
    /// What to answer to the header block.
    pub headers_answer: Option<HeadersAnswer>,
    /// Every body chunk received, in order.
    pub chunks: Vec<Vec<u8>>,
    /// Every stderr line.
    pub stderr_lines: Vec<String>,
    /// Refuse body writes after this many bytes (simulates a client that went away).
    pub gone_after: Option<usize>,
    /// How many body bytes had been received at each flush.
    pub flushed_at: Vec<usize>,
    /// Every runtime notice.
    pub notices: Vec<String>,
}

impl MemoryIo {
    /// The body received, joined.
    pub fn output(&self) -> Vec<u8> {
        self.chunks.concat()
    }
}

impl HostIo for MemoryIo {
    fn read_body(&mut self, buf: &mut [u8], _time_left: Duration) -> Result<usize, BodyReadError> {
        let rest = &self.body[self.body_pos..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.body_pos += n;
        Ok(n)
    }
    fn write_headers(&mut self, block: &[u8]) -> HeadersAnswer {
        self.headers = Some(block.to_vec());
        self.headers_answer.unwrap_or(HeadersAnswer::Continue)
    }
    fn write_head(&mut self, status: u16, fields: &[(String, String)]) -> HeadersAnswer {
        self.head = Some((status, fields.to_vec()));
        self.headers_answer.unwrap_or(HeadersAnswer::Continue)
    }
    fn write_body(&mut self, bytes: &[u8]) -> Result<(), ClientGone> {
        if let Some(limit) = self.gone_after
            && self.output().len() + bytes.len() > limit
        {
            return Err(ClientGone);
        }
        self.chunks.push(bytes.to_vec());
        Ok(())
    }
    fn log_stderr(&mut self, line: &[u8]) {
        self.stderr_lines
            .push(String::from_utf8_lossy(line).into_owned());
    }
    fn flush(&mut self) -> Result<(), ClientGone> {
        self.flushed_at.push(self.output().len());
        Ok(())
    }
    fn log_notice(&mut self, message: &str) {
        self.notices.push(message.to_string());
    }
}
