//! How one connection is served. Its requests are read here, and the two hot paths take a
//! lane of their own when they are plain HTTP/1.1 with their body in hand (no body, or a
//! `Content-Length` up to [`REPLAY_LIMIT`]): gateway requests ([`crate::gateway::lane`], which writes
//! the receiver's answer straight back) and `GET /runtime/v1/tokens/{name}`
//! ([`crate::runtime::token_for`]); [`mod@write`] puts their responses on the wire. At the first
//! request that is anything else (another path, HTTP/1.0, a chunked or large upload, `Expect`,
//! `Upgrade`, a head this parser does not take), the connection, with what was read of it, goes
//! to hyper's HTTP/1.1 server and [`App`] for the rest of its life: hyper then answers every
//! request, errors included, as it always did.
//!
//! A proxy's own work per request is small next to the kernel's; hyper's server (its header
//! maps, request and response objects and state machine) was the largest part of it.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::Method;
use axum::response::IntoResponse as _;
use bytes::{Buf as _, Bytes, BytesMut};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::auth::ConnectionMemo;
use crate::gateway::REPLAY_LIMIT;
use crate::gateway::lane::{self, Raw};
use crate::server::App;
use crate::shutdown::Shutdown;

pub mod write;

/// The largest request head the lane reads before it leaves the request to hyper.
const MAX_HEAD: usize = 16 * 1024;
/// Headers the lane parses; a request with more goes to hyper.
const MAX_HEADERS: usize = 64;

/// Serves one connection until the client closes it or `shutdown` fires (then the request in
/// flight is finished and the connection closed).
pub async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Arc<App>,
    shutdown: Shutdown,
) {
    let _ = stream.set_nodelay(true);
    let mut conn = Conn {
        io: stream,
        buf: BytesMut::with_capacity(4096),
        out: Vec::with_capacity(4096),
        memo: Arc::new(ConnectionMemo::default()),
    };
    match conn.lane(peer, &app, &shutdown).await {
        Ok(Next::Hyper) => {}
        Ok(Next::Close) => return,
        Err(e) => {
            tracing::debug!(error = %e, %peer, "connection ended with an error");
            return;
        }
    }
    let Conn { io, buf, memo, .. } = conn;
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let (app, memo) = (app.clone(), memo.clone());
        async move { Ok::<_, std::convert::Infallible>(app.handle(peer, &memo, req).await) }
    });
    let io = TokioIo::new(Prefixed { read: buf, io });
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        }
        () = shutdown.wait() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

struct Conn {
    io: TcpStream,
    /// What was read and not yet served.
    buf: BytesMut,
    /// Scratch space for what is written.
    out: Vec<u8>,
    memo: Arc<ConnectionMemo>,
}

enum Next {
    Close,
    Hyper,
}

/// What the lane makes of the head at the start of the buffer.
enum Step {
    /// Served: this many bytes of the buffer were the request; close afterwards when `true`.
    Served(usize, bool),
    /// Its body is not all here: read until the buffer holds this many bytes.
    ReadTo(usize),
    /// The head is not all here.
    ReadMore,
    /// Not for the lane.
    Hyper,
}

impl Conn {
    /// Serves requests on the lane until one is not for it ([`Next::Hyper`]), the connection
    /// ends, or shutdown comes between two requests.
    async fn lane(&mut self, peer: SocketAddr, app: &App, shutdown: &Shutdown) -> io::Result<Next> {
        let mut stop = std::pin::pin!(shutdown.clone().wait());
        loop {
            match self.step(peer, app).await? {
                Step::Served(n, close) => {
                    self.buf.advance(n);
                    if close || shutdown.triggered() {
                        return Ok(Next::Close);
                    }
                }
                Step::ReadTo(n) => {
                    while self.buf.len() < n {
                        self.buf.reserve(n - self.buf.len());
                        if self.io.read_buf(&mut self.buf).await? == 0 {
                            return Ok(Next::Close);
                        }
                    }
                }
                Step::ReadMore if self.buf.len() > MAX_HEAD => return Ok(Next::Hyper),
                Step::ReadMore => {
                    self.buf.reserve(4096);
                    let read = tokio::select! {
                        read = self.io.read_buf(&mut self.buf) => read?,
                        () = &mut stop => return Ok(Next::Close),
                    };
                    if read == 0 {
                        return Ok(Next::Close);
                    }
                }
                Step::Hyper => return Ok(Next::Hyper),
            }
        }
    }

    /// Parses the head at the start of the buffer and, when the request is the lane's and
    /// complete, serves it.
    async fn step(&mut self, peer: SocketAddr, app: &App) -> io::Result<Step> {
        if self.buf.is_empty() {
            return Ok(Step::ReadMore);
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let head = match req.parse(&self.buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(Step::ReadMore),
            Err(_) => return Ok(Step::Hyper), // hyper answers it (400, 431, …)
        };
        let (Some(method), Some(target), Some(1)) = (req.method, req.path, req.version) else {
            return Ok(Step::Hyper);
        };
        let Ok(method) = Method::from_bytes(method.as_bytes()) else {
            return Ok(Step::Hyper);
        };
        let path = target.split('?').next().unwrap_or(target);
        let token = if path.starts_with("/gateway/") && method != Method::CONNECT {
            None
        } else if method == Method::GET
            && let Some(name) = crate::server::token_name(path)
        {
            Some(name)
        } else {
            return Ok(Step::Hyper);
        };
        let mut length: Option<u64> = None;
        let mut close = false;
        for h in req.headers.iter() {
            let name = h.name;
            if name.eq_ignore_ascii_case("content-length") {
                // Anything but one length (or the same one repeated) within the limit: hyper
                // answers or streams it.
                match crate::gateway::content_length(h.value) {
                    Some(n) if n <= REPLAY_LIMIT && length.is_none_or(|l| l == n) => {
                        length = Some(n);
                    }
                    _ => return Ok(Step::Hyper),
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                || name.eq_ignore_ascii_case("expect")
                || name.eq_ignore_ascii_case("upgrade")
            {
                return Ok(Step::Hyper);
            } else if name.eq_ignore_ascii_case("connection") {
                close |= h
                    .value
                    .split(|b| *b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
            }
        }
        let end = head + usize::try_from(length.unwrap_or(0)).unwrap_or(usize::MAX);
        if self.buf.len() < end {
            return Ok(Step::ReadTo(end));
        }
        let raw = Raw {
            method,
            target,
            headers: req.headers,
            body: if end > head {
                Bytes::copy_from_slice(&self.buf[head..end])
            } else {
                Bytes::new()
            },
            close,
        };
        let started = app.access_log.then(Instant::now);
        let state = app.state();
        let (io, out) = (&mut self.io, &mut self.out);
        let status = match token {
            None => lane::forward(state, peer, &self.memo, &raw, io, out).await?,
            Some(name) => {
                let authorization = raw.header("authorization");
                let res = crate::runtime::token_for(state, Some(&self.memo), authorization, &name)
                    .await
                    .into_response();
                let how = write::How {
                    head_only: false,
                    close,
                    date: write::http_date(state),
                };
                write::write_response(io, out, res, how).await?
            }
        };
        if let Some(started) = started {
            app.log(&raw.method, path, status, started);
        }
        Ok(Step::Served(end, close))
    }
}

/// The connection as hyper reads it: what the lane read and did not serve, then the socket.
struct Prefixed {
    read: BytesMut,
    io: TcpStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.read.is_empty() {
            return Pin::new(&mut self.io).poll_read(cx, buf);
        }
        let n = self.read.len().min(buf.remaining());
        buf.put_slice(&self.read[..n]);
        self.read.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
