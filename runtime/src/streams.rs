//! WASI stdin/stdout/stderr for one request, bridged to the host's [`HostIo`].
//!
//! stdout is cut into the CGI header block (checked by [`crate::cgi_headers`], handed over
//! once) and the body, which is streamed to the host in chunks of [`BODY_CHUNK`] bytes — never
//! buffered whole. The output limit, a client that went away, and refused headers turn the
//! module's next write into a trap, so a flooding module stops at once.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdinStream, StdoutStream};
use wasmtime_wasi::p2::{InputStream, OutputStream, Pollable, StreamError, StreamResult};

use crate::cgi_headers::{HeaderError, MAX_HEADER_BLOCK, filter_header_block, find_header_end};
use crate::host_io::{HeadersAnswer, HostIo};
use crate::response_head::check_response_head;

/// Body bytes are handed to the host in chunks of this size (and at the end).
pub const BODY_CHUNK: usize = 64 * 1024;
/// Longest stderr line passed on as one log line.
const STDERR_LINE_MAX: usize = 4096;
/// Stderr bytes logged per request; the rest is dropped with one notice.
const STDERR_MAX: usize = 1 << 20;
/// The most a single read from the body asks the host for.
const READ_CHUNK: usize = 64 * 1024;

/// Why the output side stopped the module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputFailure {
    /// More body than the route's output limit.
    OutputLimit(u64),
    /// The host could not deliver (client gone).
    ClientGone,
    /// The CGI header block was refused by our checks.
    BadHeaders(HeaderError),
    /// A wasi:http response head was refused by our checks.
    BadHead(HeaderError),
    /// The host refused the headers.
    HeadersRefused,
    /// The request body could not be read (client gone, too large, timed out).
    BodyRead,
    /// The body did not match the `Content-Length` the module declared.
    LengthMismatch {
        /// What the module declared.
        declared: u64,
        /// What it wrote (at least).
        written: u64,
    },
}

impl std::fmt::Display for OutputFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutputFailure::OutputLimit(limit) => {
                write!(f, "output limit of {limit} bytes exceeded")
            }
            OutputFailure::ClientGone => write!(f, "client went away"),
            OutputFailure::BadHeaders(e) => write!(f, "{e}"),
            OutputFailure::BadHead(e) => write!(f, "{}", crate::response_head::describe(e)),
            OutputFailure::HeadersRefused => write!(f, "CGI headers refused by the server"),
            OutputFailure::BodyRead => write!(f, "the request body could not be read"),
            OutputFailure::LengthMismatch { declared, written } => write!(
                f,
                "the module declared Content-Length {declared} but wrote {written} body bytes"
            ),
        }
    }
}

/// The request's streams stopped it; the bridge records why ([`IoBridge::failure`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stopped;

/// The state the three streams share with the request runner.
pub struct Shared {
    io: Option<*mut (dyn HostIo + 'static)>,
    cgi: bool,
    headers_done: bool,
    discard_body: bool,
    header_buf: Vec<u8>,
    body_buf: Vec<u8>,
    written: u64,
    delivered: u64,
    output_limit: u64,
    output_started: bool,
    failure: Option<OutputFailure>,
    stderr_buf: Vec<u8>,
    stderr_bytes: usize,
    input_done: bool,
    content_length: Option<u64>,
    deadline: Instant,
}

// SAFETY: the raw `HostIo` pointer is used only on the thread that runs the request, and
// `IoBridge::detach` clears it before `run` returns; the mutex serialises every access.
unsafe impl Send for Shared {}

/// A handle on one request's stream state.
#[derive(Clone)]
pub struct IoBridge(Arc<Mutex<Shared>>);

impl IoBridge {
    /// Bridges to `io` for one request.
    ///
    /// # Safety
    /// `io` must stay valid until [`IoBridge::detach`] is called, and must only be used from the
    /// calling thread (the one that will run the module).
    pub unsafe fn attach(
        io: &mut dyn HostIo,
        cgi: bool,
        output_limit: u64,
        deadline: Instant,
    ) -> IoBridge {
        // SAFETY: lifetime erased; `detach` is called before the borrow ends (see `run`).
        let io: *mut (dyn HostIo + '_) = io;
        let io: *mut (dyn HostIo + 'static) = unsafe { std::mem::transmute(io) };
        IoBridge(Arc::new(Mutex::new(Shared {
            io: Some(io),
            cgi,
            headers_done: false,
            discard_body: false,
            header_buf: Vec::new(),
            body_buf: Vec::with_capacity(BODY_CHUNK),
            written: 0,
            delivered: 0,
            output_limit,
            output_started: false,
            failure: None,
            stderr_buf: Vec::new(),
            stderr_bytes: 0,
            input_done: false,
            content_length: None,
            deadline,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The WASI stdin for this request.
    pub fn stdin(&self) -> impl StdinStream + 'static {
        Pipe(self.clone())
    }
    /// The WASI stdout for this request.
    pub fn stdout(&self) -> impl StdoutStream + 'static {
        Pipe(self.clone())
    }
    /// The WASI stderr for this request.
    pub fn stderr(&self) -> impl StdoutStream + 'static {
        StderrPipe(self.clone())
    }

    /// Ends the request's output. With `deliver`, pending body bytes are sent and a CGI module
    /// that never finished its headers is a failure; without, pending bytes are dropped.
    pub fn finish(&self, deliver: bool) {
        let mut s = self.lock();
        s.flush_stderr_partial();
        if deliver && s.failure.is_none() {
            if s.cgi && !s.headers_done {
                s.failure = Some(OutputFailure::BadHeaders(HeaderError::Unterminated));
            } else if let Some(declared) = s.content_length.filter(|&d| d != s.written) {
                let written = s.written;
                s.failure = Some(OutputFailure::LengthMismatch { declared, written });
            } else {
                let _ = s.flush_body();
            }
        }
        s.body_buf.clear();
    }

    /// wasi:http handlers: checks the guest's response head and hands it to the host. `Err`: it
    /// was refused (the failure is recorded).
    pub fn start_response(&self, parts: &http::response::Parts) -> Result<(), Stopped> {
        self.lock().start_response(parts)
    }

    /// wasi:http handlers: body bytes, held to the output limit and the declared length. `Err`:
    /// stop the guest (the failure is recorded).
    /// Each piece the guest wrote goes out as it is: a handler that streams slowly (events, a
    /// progress report) is seen as it writes, not in 64 KiB batches.
    pub fn write_body(&self, data: &[u8]) -> Result<(), Stopped> {
        let mut s = self.lock();
        s.body_write(data).map_err(|_| Stopped)?;
        s.flush_body().map_err(|_| Stopped)
    }

    /// wasi:http handlers: the guest has nothing more to give for now, so what Apache's output
    /// filters hold goes to the client (a FLUSH), as a proxy does when its backend pauses.
    pub fn push_out(&self) -> Result<(), Stopped> {
        self.lock().push_out().map_err(|_| Stopped)
    }

    /// wasi:http handlers: the next piece of the request body (`None` at its end). `Err`: it
    /// could not be read (the failure is recorded).
    pub fn read_chunk(&self) -> Result<Option<Bytes>, Stopped> {
        match self.lock().read_body(READ_CHUNK) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(StreamError::Closed) => Ok(None),
            Err(_) => Err(Stopped),
        }
    }

    /// A notice about this request for the host's log.
    pub fn log_notice(&self, message: &str) {
        if let Some(mut io) = self.lock().io() {
            io.log_notice(message);
        }
    }

    /// Forgets the host (no callback happens after this).
    pub fn detach(&self) {
        self.lock().io = None;
    }

    /// The failure the output side recorded, if any.
    pub fn failure(&self) -> Option<OutputFailure> {
        self.lock().failure.clone()
    }
    /// Whether the module has begun a response: its CGI header block is complete, or (without
    /// CGI) it wrote body bytes, delivered or still pending.
    pub fn response_begun(&self) -> bool {
        let s = self.lock();
        if s.cgi { s.headers_done } else { s.written > 0 }
    }
    /// Whether headers or body reached the host.
    pub fn output_started(&self) -> bool {
        self.lock().output_started
    }
    /// Body bytes delivered to the host.
    pub fn delivered(&self) -> u64 {
        self.lock().delivered
    }
}

/// The host, for one call: while it lasts the thread is not signalled by the watchdog (see
/// [`crate::watchdog::in_host`]), so Apache's own time limits bound the call.
struct HostCall<'a> {
    io: &'a mut (dyn HostIo + 'static),
    _in_host: crate::watchdog::InHost,
}

impl std::ops::Deref for HostCall<'_> {
    type Target = dyn HostIo + 'static;
    fn deref(&self) -> &Self::Target {
        self.io
    }
}

impl std::ops::DerefMut for HostCall<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.io
    }
}

impl Shared {
    fn io(&mut self) -> Option<HostCall<'_>> {
        // SAFETY: see `IoBridge::attach`.
        self.io.map(|p| HostCall {
            io: unsafe { &mut *p },
            _in_host: crate::watchdog::in_host(),
        })
    }

    fn fail(&mut self, failure: OutputFailure) -> StreamError {
        let err = StreamError::trap(&failure.to_string());
        self.failure.get_or_insert(failure);
        err
    }

    fn stdout_write(&mut self, data: &[u8]) -> StreamResult<()> {
        if let Some(f) = &self.failure {
            return Err(StreamError::trap(&f.to_string()));
        }
        if self.cgi && !self.headers_done {
            self.header_buf.extend_from_slice(data);
            let Some(end) = find_header_end(&self.header_buf) else {
                if self.header_buf.len() > MAX_HEADER_BLOCK {
                    return Err(self.fail(OutputFailure::BadHeaders(HeaderError::TooLarge)));
                }
                return Ok(());
            };
            let rest = self.header_buf.split_off(end);
            let block = std::mem::take(&mut self.header_buf);
            let filtered = match filter_header_block(&block) {
                Ok(filtered) => filtered,
                Err(e) => return Err(self.fail(OutputFailure::BadHeaders(e))),
            };
            self.send_head(
                "CGI header",
                filtered.content_length,
                &filtered.dropped,
                |io| io.write_headers(&filtered.block),
            )?;
            return self.body_write(&rest);
        }
        self.body_write(data)
    }

    fn start_response(&mut self, parts: &http::response::Parts) -> Result<(), Stopped> {
        let fields = parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()));
        let head = match check_response_head(parts.status.as_u16(), fields) {
            Ok(head) => head,
            Err(e) => {
                self.fail(OutputFailure::BadHead(e));
                return Err(Stopped);
            }
        };
        self.send_head(
            "response header",
            head.content_length,
            &head.dropped,
            |io| io.write_head(head.status, &head.fields),
        )
        .map_err(|_| Stopped)
    }

    /// A checked head goes to the host through `send`: the output has started, the body is held
    /// to `content_length`, the fields the server dropped are logged, and the host's answer says
    /// whether the body is wanted (HEAD) or the response refused.
    fn send_head(
        &mut self,
        what: &str,
        content_length: Option<u64>,
        dropped: &[String],
        send: impl FnOnce(&mut dyn HostIo) -> HeadersAnswer,
    ) -> StreamResult<()> {
        self.headers_done = true;
        self.output_started = true;
        self.content_length = content_length;
        if let Some(mut io) = self.io()
            && !dropped.is_empty()
        {
            io.log_notice(&format!(
                "dropped {what} field(s) the server frames itself: {}",
                dropped.join(", ")
            ));
        }
        let answer = match self.io() {
            Some(mut io) => send(&mut *io),
            None => HeadersAnswer::Abort,
        };
        match answer {
            HeadersAnswer::Continue => Ok(()),
            HeadersAnswer::DiscardBody => {
                self.discard_body = true;
                Ok(())
            }
            HeadersAnswer::Abort => Err(self.fail(OutputFailure::HeadersRefused)),
        }
    }

    fn body_write(&mut self, data: &[u8]) -> StreamResult<()> {
        if data.is_empty() {
            return Ok(());
        }
        let before = self.written;
        self.written += data.len() as u64;
        if self.written > self.output_limit {
            let limit = self.output_limit;
            return Err(self.fail(OutputFailure::OutputLimit(limit)));
        }
        if self.discard_body {
            return Ok(());
        }
        if let Some(declared) = self.content_length
            && self.written > declared
        {
            // Deliver exactly what was declared; the rest would be read as another response.
            let room = usize::try_from(declared.saturating_sub(before)).unwrap_or(usize::MAX);
            self.body_buf
                .extend_from_slice(&data[..room.min(data.len())]);
            let _ = self.flush_body();
            let written = self.written;
            return Err(self.fail(OutputFailure::LengthMismatch { declared, written }));
        }
        self.body_buf.extend_from_slice(data);
        if self.body_buf.len() >= BODY_CHUNK {
            self.flush_body()?;
        }
        Ok(())
    }

    /// Hands pending body bytes to the host and has it send everything it holds to the client.
    fn push_out(&mut self) -> StreamResult<()> {
        self.flush_body()?;
        if let Some(mut io) = self.io()
            && io.flush().is_err()
        {
            return Err(self.fail(OutputFailure::ClientGone));
        }
        Ok(())
    }

    fn flush_body(&mut self) -> StreamResult<()> {
        if self.body_buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.body_buf);
        let result = match self.io() {
            Some(mut io) => io.write_body(&buf),
            None => Err(crate::host_io::ClientGone),
        };
        self.body_buf = buf;
        match result {
            Ok(()) => {
                self.output_started = true;
                self.delivered += self.body_buf.len() as u64;
                self.body_buf.clear();
                Ok(())
            }
            Err(_) => {
                self.body_buf.clear();
                Err(self.fail(OutputFailure::ClientGone))
            }
        }
    }

    fn stderr_write(&mut self, data: &[u8]) {
        if self.stderr_bytes >= STDERR_MAX {
            return;
        }
        let room = STDERR_MAX - self.stderr_bytes;
        let data = &data[..data.len().min(room)];
        self.stderr_bytes += data.len();
        self.stderr_buf.extend_from_slice(data);
        while let Some(nl) = self.stderr_buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.stderr_buf.drain(..=nl).collect();
            let line = &line[..line.len() - 1];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            self.log_line(line);
        }
        while self.stderr_buf.len() >= STDERR_LINE_MAX {
            let line: Vec<u8> = self.stderr_buf.drain(..STDERR_LINE_MAX).collect();
            self.log_line(&line);
        }
        if self.stderr_bytes >= STDERR_MAX {
            self.flush_stderr_partial();
            self.log_line(b"[mod_wasm: further stderr output of this request dropped]");
        }
    }

    fn flush_stderr_partial(&mut self) {
        if !self.stderr_buf.is_empty() {
            let line = std::mem::take(&mut self.stderr_buf);
            self.log_line(&line);
        }
    }

    fn log_line(&mut self, line: &[u8]) {
        if let Some(mut io) = self.io() {
            io.log_stderr(line);
        }
    }

    fn read_body(&mut self, size: usize) -> StreamResult<Bytes> {
        if self.input_done {
            return Err(StreamError::Closed);
        }
        // The module may be about to wait for the client, which may be waiting for the output
        // written so far (duplex streaming): hand it over and push it out first.
        if !self.body_buf.is_empty() && (!self.cgi || self.headers_done) {
            self.push_out()?;
        }
        let mut buf = vec![0u8; size.clamp(1, READ_CHUNK)];
        let time_left = self.deadline.saturating_duration_since(Instant::now());
        let result = match self.io() {
            Some(mut io) if !time_left.is_zero() => io.read_body(&mut buf, time_left),
            _ => Err(crate::host_io::BodyReadError),
        };
        match result {
            Ok(0) => {
                self.input_done = true;
                Err(StreamError::Closed)
            }
            Err(crate::host_io::BodyReadError) => {
                self.input_done = true;
                Err(self.fail(OutputFailure::BodyRead))
            }
            Ok(n) => {
                buf.truncate(n);
                Ok(Bytes::from(buf))
            }
        }
    }
}

/// stdin and stdout of one request.
struct Pipe(IoBridge);
/// stderr of one request.
struct StderrPipe(IoBridge);

impl IsTerminal for Pipe {
    fn is_terminal(&self) -> bool {
        false
    }
}
impl IsTerminal for StderrPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdinStream for Pipe {
    fn p2_stream(&self) -> Box<dyn InputStream> {
        Box::new(BodyReader(self.0.clone()))
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncRead + Send + Sync> {
        // Only WASIp3 uses this; mod_wasm runs WASIp1 commands.
        Box::new(tokio::io::empty())
    }
}

impl StdoutStream for Pipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(ResponseWriter(self.0.clone()))
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(tokio::io::sink())
    }
}

impl StdoutStream for StderrPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(StderrWriter(self.0.clone()))
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(tokio::io::sink())
    }
}

struct BodyReader(IoBridge);
struct ResponseWriter(IoBridge);
struct StderrWriter(IoBridge);

#[wasmtime_wasi::async_trait]
impl Pollable for BodyReader {
    async fn ready(&mut self) {}
}
#[wasmtime_wasi::async_trait]
impl Pollable for ResponseWriter {
    async fn ready(&mut self) {}
}
#[wasmtime_wasi::async_trait]
impl Pollable for StderrWriter {
    async fn ready(&mut self) {}
}

#[wasmtime_wasi::async_trait]
impl InputStream for BodyReader {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        self.0.lock().read_body(size)
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for ResponseWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.0.lock().stdout_write(&bytes)
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        match &self.0.lock().failure {
            Some(f) => Err(StreamError::trap(&f.to_string())),
            None => Ok(1 << 20),
        }
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for StderrWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.0.lock().stderr_write(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(1 << 20)
    }
}
