//! A lean HTTP/1.1 client for plain-`http` receivers, used for requests whose body is held in
//! memory (no body, or one kept for replay after a 401: the common case).
//!
//! The task serving the caller writes the request and reads the answer's head itself, on a
//! keep-alive connection from this thread's pool, and the answer's body is read by whoever
//! reads the body handed to the caller. A general-purpose client (hyper-util's, used for TLS,
//! HTTP/2 and streamed uploads) runs each connection in a task of its own and passes requests,
//! answers and body chunks between tasks through channels, and its pool is shared under a lock:
//! about a third of the gateway's own time went there.
//!
//! What it does, per RFC 9112:
//! - the request: `Host` from the address, the forwarded headers, `Content-Length` for a body
//!   (and for POST, PUT and PATCH even when empty);
//! - the answer: 1xx heads are skipped; no body after HEAD, 204 and 304; `Transfer-Encoding:
//!   chunked` is decoded (the caller's connection re-frames it); `Content-Length`; otherwise the
//!   body runs to the end of the connection;
//! - connections are reused after a complete body unless the receiver said `Connection: close`
//!   or answered with HTTP/1.0; an idle connection is dropped after [`IDLE`] or when the receiver
//!   closed it; a reused connection that fails before any byte of the answer arrived is retried
//!   once on a new one for idempotent methods (the receiver may have closed it meanwhile).

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, Version};
use bytes::{Buf as _, Bytes, BytesMut};
use http_body::Frame;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// An idle connection older than this is not reused (below the usual server keep-alive
/// timeouts: nginx closes after 75 s).
pub const IDLE: Duration = Duration::from_secs(30);
/// Idle connections kept per receiver address.
const MAX_IDLE: usize = 256;
/// The largest answer head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Headers accepted in an answer head.
const MAX_HEADERS: usize = 128;
/// Read size.
const CHUNK: usize = 16 * 1024;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No connection could be made.
    #[error("cannot connect: {0}")]
    Connect(io::Error),
    /// The connection failed while sending or before the answer's head was complete.
    #[error("{0}")]
    Io(io::Error),
    /// The receiver closed the connection without answering.
    #[error("the connection was closed before an answer arrived")]
    Closed,
    /// The answer is not HTTP/1.x.
    #[error("invalid answer: {0}")]
    Invalid(&'static str),
}

struct Conn {
    io: TcpStream,
    buf: BytesMut,
    key: String,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

thread_local! {
    /// This thread's idle connections by the receiver's authority (`host:port`).
    static POOL: RefCell<HashMap<String, Vec<Idle>>> = RefCell::new(HashMap::new());
}

/// An idle connection to `key` that still looks healthy.
fn checkout(key: &str) -> Option<Conn> {
    POOL.with_borrow_mut(|pool| {
        let idle = pool.get_mut(key)?;
        while let Some(Idle { mut conn, since }) = idle.pop() {
            if since.elapsed() < IDLE && still_open(&mut conn) {
                return Some(conn);
            }
        }
        None
    })
}

/// An idle connection should have nothing to read; if it has, the receiver closed it (or sent
/// something unasked for). Looks without waiting.
fn still_open(conn: &mut Conn) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    match conn.io.poll_read_ready(&mut cx) {
        Poll::Pending => true,
        Poll::Ready(Err(_)) => false,
        Poll::Ready(Ok(())) => {
            let mut probe = [0u8; 1];
            matches!(conn.io.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
        }
    }
}

fn checkin(conn: Conn) {
    if !conn.buf.is_empty() {
        return; // bytes beyond the answer: not a clean connection
    }
    POOL.with_borrow_mut(|pool| {
        let idle = pool.entry(conn.key.clone()).or_default();
        if idle.len() < MAX_IDLE {
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    });
}

/// Where a request goes: the receiver's authority (`host[:port]`) and the request target, in
/// pieces written one after the other (`/` when they are all empty), so that no URI has to be
/// built and parsed per request.
pub struct Target<'a> {
    /// `host[:port]`.
    pub authority: &'a str,
    /// Path and query, in pieces.
    pub path: [&'a str; 4],
}

/// Where to connect for an authority: `host:port`.
fn address(authority: &str) -> Option<String> {
    let a: axum::http::uri::Authority = authority.parse().ok()?;
    let port = a.port_u16().unwrap_or(80);
    let host = a.host();
    Some(if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

/// Sends `method` to `target` with `headers` and `body` and returns the receiver's answer, the
/// body still to be read.
pub async fn send(
    method: &Method,
    target: &Target<'_>,
    headers: &HeaderMap,
    body: &Bytes,
    connect_timeout: Duration,
) -> Result<Response<Body>, Error> {
    let mut request = Vec::with_capacity(256 + headers.len() * 48);
    let fields = headers
        .iter()
        .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()));
    encode(&mut request, method, target, fields, body);
    send_encoded(method, target.authority, &request, body, connect_timeout)
        .await?
        .into_response()
}

/// Sends a request [`encode`]d for `authority` and returns the receiver's answer, the body
/// still to be read.
pub async fn send_encoded(
    method: &Method,
    authority: &str,
    request: &[u8],
    body: &Bytes,
    connect_timeout: Duration,
) -> Result<Answer, Error> {
    // The pool is keyed by the authority as written (no allocation per request).
    let key = authority;
    let idempotent = matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    );
    if let Some(conn) = checkout(key) {
        match exchange(conn, request, body, method).await {
            Err(Failure::BeforeAnswer(_)) if idempotent => {} // try a new connection
            Err(Failure::BeforeAnswer(e) | Failure::Other(e)) => return Err(e),
            Ok(res) => return Ok(res),
        }
    }
    let to = address(key).ok_or(Error::Invalid("the address has no host"))?;
    let io = tokio::time::timeout(connect_timeout, TcpStream::connect(&to))
        .await
        .map_err(|_| Error::Connect(io::ErrorKind::TimedOut.into()))?
        .map_err(Error::Connect)?;
    let _ = io.set_nodelay(true);
    let conn = Conn {
        io,
        buf: BytesMut::with_capacity(CHUNK),
        key: key.to_owned(),
    };
    exchange(conn, request, body, method)
        .await
        .map_err(|(Failure::BeforeAnswer(e) | Failure::Other(e))| e)
}

enum Failure {
    /// Nothing of an answer arrived: the request may be sent again elsewhere.
    BeforeAnswer(Error),
    Other(Error),
}

/// Appends to `out` the request head (and a small body), so that it usually takes one write:
/// the request line, `Host` from the target, `headers` (names as given; any `Content-Length`
/// among them is replaced by the length of `body`).
pub fn encode<'h>(
    out: &mut Vec<u8>,
    method: &Method,
    target: &Target<'_>,
    headers: impl IntoIterator<Item = (&'h [u8], &'h [u8])>,
    body: &[u8],
) {
    let small = if body.len() <= CHUNK { body.len() } else { 0 };
    out.reserve(256 + small);
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    let start = out.len();
    for piece in target.path {
        out.extend_from_slice(piece.as_bytes());
    }
    if out.get(start) != Some(&b'/') {
        out.insert(start, b'/'); // origin form: no path at all, or only a query
    }
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(target.authority.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        if name.eq_ignore_ascii_case(b"content-length") {
            continue; // written below, from the body held
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() || matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if small > 0 {
        out.extend_from_slice(body);
    }
}

async fn exchange(
    mut conn: Conn,
    request: &[u8],
    body: &Bytes,
    method: &Method,
) -> Result<Answer, Failure> {
    let sent = async {
        conn.io.write_all(request).await?;
        if body.len() > CHUNK {
            conn.io.write_all(body).await?;
        }
        io::Result::Ok(())
    };
    if let Err(e) = sent.await {
        return Err(Failure::BeforeAnswer(Error::Io(e)));
    }
    let mut received_any = false;
    loop {
        if !conn.buf.is_empty() {
            received_any = true;
            conn = match head(conn, method).map_err(Failure::Other)? {
                Head::More(c) => c,
                Head::Skipped(c) => {
                    conn = c;
                    continue;
                }
                Head::Done(res) => return Ok(res),
            };
        }
        conn.buf.reserve(CHUNK);
        match conn.io.read_buf(&mut conn.buf).await {
            Ok(0) if received_any => {
                return Err(Failure::Other(Error::Invalid(
                    "the answer's head is incomplete",
                )));
            }
            Ok(0) => return Err(Failure::BeforeAnswer(Error::Closed)),
            Ok(_) => {}
            Err(e) if received_any => return Err(Failure::Other(Error::Io(e))),
            Err(e) => return Err(Failure::BeforeAnswer(Error::Io(e))),
        }
    }
}

enum Head {
    /// More must be read.
    More(Conn),
    /// A 1xx head was skipped; the final head may follow in what was read.
    Skipped(Conn),
    Done(Answer),
}

/// A receiver's answer: its status and head as received, its body still to be read.
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// A copy of the head, which [`Answer::fields`] index into.
    head: Bytes,
    /// Each header as the ranges of its name and value in `head`.
    fields: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
    /// Whether the body is framed by the `Content-Length` among the fields (or there is no
    /// body: HEAD, 204, 304), so that the fields can be passed on as they are; otherwise it was
    /// chunked or runs to the end of the connection, and must be framed anew.
    pub length_framed: bool,
    /// The body.
    pub body: Upstream,
}

impl Answer {
    /// The headers as received (names in the receiver's case), `Transfer-Encoding` and
    /// `Connection` included.
    pub fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.fields
            .iter()
            .map(|(n, v)| (&self.head[n.clone()], &self.head[v.clone()]))
    }

    /// The answer as a response whose body is read from the connection as it is polled.
    pub fn into_response(mut self) -> Result<Response<Body>, Error> {
        let mut headers = HeaderMap::with_capacity(self.fields.len());
        for (n, v) in &self.fields {
            let name = HeaderName::from_bytes(&self.head[n.clone()])
                .map_err(|_| Error::Invalid("bad header name"))?;
            if !self.length_framed && name == axum::http::header::CONTENT_LENGTH {
                continue;
            }
            // Every value shares the one copy of the head (rather than one allocation each).
            let value = HeaderValue::from_maybe_shared(self.head.slice(v.clone()))
                .map_err(|_| Error::Invalid("bad header value"))?;
            headers.append(name, value);
        }
        let mut res = Response::new(Body::empty());
        *res.status_mut() = self.status;
        *res.version_mut() = Version::HTTP_11;
        *res.headers_mut() = headers;
        // The whole body is here already (small answers): hand it over, free the connection.
        *res.body_mut() = match self.body.take_whole() {
            Some(bytes) => Body::from(bytes),
            None => Body::new(self.body),
        };
        Ok(res)
    }
}

/// Parses the answer's head from `conn.buf` if it is complete.
fn head(mut conn: Conn, method: &Method) -> Result<Head, Error> {
    let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut raw);
    let len = match parsed.parse(&conn.buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if conn.buf.len() > MAX_HEAD => {
            return Err(Error::Invalid("the answer's head is too large"));
        }
        Ok(httparse::Status::Partial) => return Ok(Head::More(conn)),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Error::Invalid("the answer has too many headers"));
        }
        Err(_) => return Err(Error::Invalid("the answer's head is not HTTP/1.1")),
    };
    let code = parsed.code.unwrap_or(0);
    let status = StatusCode::from_u16(code).map_err(|_| Error::Invalid("bad status code"))?;
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Err(Error::Invalid("the receiver switched protocols"));
    }
    if status.is_informational() {
        conn.buf.advance(len);
        return Ok(Head::Skipped(conn));
    }
    let http10 = parsed.version == Some(0);
    let head = Bytes::copy_from_slice(&conn.buf[..len]);
    let base = conn.buf.as_ptr() as usize;
    // httparse's names and values lie within the head; their offsets are found by address.
    let range = |s: &[u8]| {
        let at = (s.as_ptr() as usize).wrapping_sub(base);
        at.checked_add(s.len())
            .filter(|end| *end <= len)
            .map(|end| at..end)
            .ok_or(Error::Invalid("bad header"))
    };
    let mut fields = Vec::with_capacity(parsed.headers.len());
    let mut chunked = false;
    let mut other_coding = false;
    let mut length: Option<u64> = None;
    let mut close = http10;
    for h in parsed.headers.iter() {
        fields.push((range(h.name.as_bytes())?, range(h.value)?));
        let value = std::str::from_utf8(h.value).unwrap_or("");
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
            other_coding = !chunked; // then the body runs to the end (RFC 9112 §6.3)
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let n = content_length(h.value).ok_or(Error::Invalid("bad Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(Error::Invalid("conflicting Content-Length"));
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("connection") {
            if value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("close"))
            {
                close = true;
            } else if http10
                && value
                    .split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("keep-alive"))
            {
                close = false;
            }
        }
    }
    conn.buf.advance(len);
    let framing = if *method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        Framing::Length(0)
    } else if chunked {
        Framing::Chunked(Chunk::Size)
    } else if other_coding {
        close = true;
        Framing::Eof
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        close = true;
        Framing::Eof
    };
    Ok(Head::Done(Answer {
        status,
        head,
        fields,
        length_framed: matches!(framing, Framing::Length(_)),
        body: Upstream {
            conn: Some(conn),
            framing,
            reusable: !close,
        },
    }))
}

/// A `Content-Length` value: digits only (RFC 9110 §8.6; no sign, which `u64::from_str` would
/// take), optionally surrounded by whitespace.
pub fn content_length(value: &[u8]) -> Option<u64> {
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked(Chunk),
    Eof,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Expecting a size line.
    Size,
    /// Inside a chunk, this many bytes left, then CRLF.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines up to an empty one.
    Trailers,
    Done,
}

/// The body of an answer, read from the connection as the caller's side asks for it; the
/// connection goes back to the pool once the body is complete.
pub struct Upstream {
    conn: Option<Conn>,
    framing: Framing,
    reusable: bool,
}

impl Upstream {
    /// The whole body, when it has a length and all of it was read with the head (small
    /// answers); the connection is then free.
    pub fn take_whole(&mut self) -> Option<Bytes> {
        let Framing::Length(n) = self.framing else {
            return None;
        };
        let conn = self.conn.as_mut()?;
        if (conn.buf.len() as u64) < n {
            return None;
        }
        let bytes = conn.buf.split_to(usize::try_from(n).ok()?).freeze();
        self.finish();
        Some(bytes)
    }

    /// The next piece of the body; `None` at its end.
    pub async fn next(&mut self) -> Option<io::Result<Bytes>> {
        std::future::poll_fn(|cx| http_body::Body::poll_frame(Pin::new(&mut *self), cx))
            .await
            .map(|frame| frame.map(|f| f.into_data().unwrap_or_default()))
    }

    /// Reads more into the buffer; `Ok(0)` at the end of the connection.
    fn poll_fill(conn: &mut Conn, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let start = conn.buf.len();
        conn.buf.resize(start + CHUNK, 0);
        let mut rb = ReadBuf::new(&mut conn.buf[start..]);
        let res = Pin::new(&mut conn.io).poll_read(cx, &mut rb);
        let n = rb.filled().len();
        conn.buf.truncate(start + n);
        ready!(res)?;
        Poll::Ready(Ok(n))
    }

    fn finish(&mut self) {
        self.framing = Framing::Length(0);
        if let Some(conn) = self.conn.take()
            && self.reusable
        {
            checkin(conn);
        }
    }

    /// The next piece of body from what is buffered, or `None` if more must be read.
    fn step(&mut self) -> Result<Option<Option<Bytes>>, io::Error> {
        let bad = |m: &'static str| io::Error::new(io::ErrorKind::InvalidData, m);
        let Some(conn) = self.conn.as_mut() else {
            return Ok(Some(None));
        };
        match self.framing {
            Framing::Length(0) => {
                self.finish();
                Ok(Some(None))
            }
            Framing::Length(n) => {
                if conn.buf.is_empty() {
                    return Ok(None);
                }
                let take = usize::try_from(n).unwrap_or(usize::MAX).min(conn.buf.len());
                self.framing = Framing::Length(n - take as u64);
                Ok(Some(Some(conn.buf.split_to(take).freeze())))
            }
            Framing::Eof => {
                if conn.buf.is_empty() {
                    return Ok(None);
                }
                Ok(Some(Some(conn.buf.split().freeze())))
            }
            Framing::Chunked(Chunk::Size) => {
                let Some(end) = find_crlf(&conn.buf) else {
                    return if conn.buf.len() > 4096 {
                        Err(bad("chunk size line too long"))
                    } else {
                        Ok(None)
                    };
                };
                let line =
                    std::str::from_utf8(&conn.buf[..end]).map_err(|_| bad("bad chunk size"))?;
                let hex = line.split(';').next().unwrap_or("").trim();
                let size = u64::from_str_radix(hex, 16).map_err(|_| bad("bad chunk size"))?;
                conn.buf.advance(end + 2);
                self.framing = Framing::Chunked(if size == 0 {
                    Chunk::Trailers
                } else {
                    Chunk::Data(size)
                });
                self.step()
            }
            Framing::Chunked(Chunk::Data(n)) => {
                if conn.buf.is_empty() {
                    return Ok(None);
                }
                let take = usize::try_from(n).unwrap_or(usize::MAX).min(conn.buf.len());
                let left = n - take as u64;
                self.framing = Framing::Chunked(if left == 0 {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left)
                });
                Ok(Some(Some(conn.buf.split_to(take).freeze())))
            }
            Framing::Chunked(Chunk::DataEnd) => {
                if conn.buf.len() < 2 {
                    return Ok(None);
                }
                if &conn.buf[..2] != b"\r\n" {
                    return Err(bad("chunk not followed by CRLF"));
                }
                conn.buf.advance(2);
                self.framing = Framing::Chunked(Chunk::Size);
                self.step()
            }
            Framing::Chunked(Chunk::Trailers) => {
                let Some(end) = find_crlf(&conn.buf) else {
                    return if conn.buf.len() > MAX_HEAD {
                        Err(bad("trailers too large"))
                    } else {
                        Ok(None)
                    };
                };
                conn.buf.advance(end + 2);
                if end == 0 {
                    self.framing = Framing::Chunked(Chunk::Done);
                }
                self.step()
            }
            Framing::Chunked(Chunk::Done) => {
                self.finish();
                Ok(Some(None))
            }
        }
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

impl http_body::Body for Upstream {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        loop {
            match self.step() {
                Ok(Some(Some(data))) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Ok(Some(None)) => return Poll::Ready(None),
                Ok(None) => {}
                Err(e) => {
                    self.conn = None;
                    return Poll::Ready(Some(Err(e)));
                }
            }
            let framing = self.framing;
            let Some(conn) = self.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match ready!(Self::poll_fill(conn, cx)) {
                Ok(0) if framing == Framing::Eof => {
                    self.conn = None;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    self.conn = None;
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the receiver closed the connection in the middle of the body",
                    ))));
                }
                Ok(_) => {}
                Err(e) => {
                    self.conn = None;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.conn.is_none() || self.framing == Framing::Length(0)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self.framing {
            Framing::Length(n) => http_body::SizeHint::with_exact(n),
            _ => http_body::SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests;
