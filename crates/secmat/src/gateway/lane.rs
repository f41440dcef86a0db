//! The gateway's fast lane: a request that [`crate::front`] read itself (HTTP/1.1, body in
//! hand) is forwarded from its raw parts and the receiver's answer is written straight to the
//! caller's connection: no header maps, no request or response objects, one write for a small
//! answer. The rules are those of [`super::forward_request`] (it shares their checks, token
//! handling and errors); a channel that is not plain `http` goes through it.

use std::io;
use std::net::SocketAddr;

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode};
use bytes::Bytes;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{CONNECT_TIMEOUT, Hop, Prepared, h1};
use crate::auth::ConnectionMemo;
use crate::front::write::{How, chunk, http_date, write_head, write_response};
use crate::state::AppState;

/// A request as read from the caller's connection.
pub struct Raw<'a> {
    /// Its method.
    pub method: Method,
    /// Its target in origin form: path and query, as sent.
    pub target: &'a str,
    /// Its headers, as sent.
    pub headers: &'a [httparse::Header<'a>],
    /// Its whole body (kept for a replay after a 401).
    pub body: Bytes,
    /// Whether the caller asked to close the connection after the answer.
    pub close: bool,
}

impl Raw<'_> {
    /// The value of the first header `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }
}

/// Forwards `req` from `peer` and writes the answer to `io` (`out` is scratch space). Returns
/// the status written; an error means the connection cannot be used any more.
pub async fn forward(
    state: &AppState,
    peer: SocketAddr,
    memo: &ConnectionMemo,
    req: &Raw<'_>,
    io: &mut TcpStream,
    out: &mut Vec<u8>,
) -> io::Result<StatusCode> {
    let how = How {
        head_only: req.method == Method::HEAD,
        close: req.close,
        date: http_date(state),
    };
    let (path, query) = match req.target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (req.target, None),
    };
    let authorization = req.header("authorization");
    let dynamic = |h: &str| Some(std::str::from_utf8(req.header(h)?).ok()?.to_owned());
    let p = match super::prepare(state, Some(memo), path, authorization, dynamic).await {
        Ok(p) => p,
        Err(res) => return write_response(io, out, res, how).await,
    };
    let Some(plain) = &p.known.plain else {
        let res = match into_parts(req) {
            Some(parts) => {
                super::forward_prepared(state, peer, &p, parts, Body::from(req.body.clone())).await
            }
            None => super::fail(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the request cannot be forwarded",
            ),
        };
        return write_response(io, out, res, how).await;
    };
    let target = h1::Target {
        authority: &plain.authority,
        path: [
            &plain.rest,
            &path[p.rest_at..],
            if query.is_some() { "?" } else { "" },
            query.unwrap_or(""),
        ],
    };
    let forwarded = Forwarded::of(req, &p, peer);
    let mut retried = false;
    loop {
        let (resolved, token, bearer) = match super::acquire(state, &p).await {
            Ok(t) => t,
            Err(res) => return write_response(io, out, res, how).await,
        };
        out.clear();
        h1::encode(
            out,
            &req.method,
            &target,
            forwarded.fields(req, &bearer),
            &req.body,
        );
        let started = Instant::now();
        let sent = h1::send_encoded(
            &req.method,
            target.authority,
            out,
            &req.body,
            CONNECT_TIMEOUT,
        );
        let mut answer = match tokio::time::timeout_at(p.deadline, sent).await {
            Ok(Ok(a)) => a,
            Ok(Err(why)) => {
                let res = super::unreachable(&p, &why.to_string());
                return write_response(io, out, res, how).await;
            }
            Err(_) => {
                let res = super::receiver_timeout(&p);
                return write_response(io, out, res, how).await;
            }
        };
        p.known.stats.observe(started.elapsed());
        if answer.status == StatusCode::UNAUTHORIZED && !retried {
            // Try once more with whatever token the cache has now (the connection is kept when
            // the answer's body was read with its head).
            let _ = answer.body.take_whole();
            super::rejected(state, &p, &resolved, &token);
            retried = true;
            continue;
        }
        let status = answer.status;
        p.known.stats.count(status);
        write_answer(io, out, answer, how).await?;
        return Ok(status);
    }
}

/// What the receiver gets besides the caller's own headers.
struct Forwarded {
    /// `X-Forwarded-For`: the caller's chain with the caller appended.
    xff: HeaderValue,
    /// The caller's `Host`, passed on as `X-Forwarded-Host`.
    host: bool,
    /// The header that named a dynamic credential.
    skip: Option<String>,
}

impl Forwarded {
    fn of(req: &Raw<'_>, p: &Prepared, peer: SocketAddr) -> Self {
        let prior = req
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("x-forwarded-for"))
            .filter_map(|h| std::str::from_utf8(h.value).ok());
        Self {
            xff: super::forwarded_for(prior, peer),
            host: req.header("host").is_some(),
            skip: p.skip().map(str::to_owned),
        }
    }

    /// The receiver's headers: the caller's without hop-by-hop headers, its credentials, `Host`
    /// (the client writes the receiver's), the dynamic credential header and the forwarding
    /// headers it had; then the token and the forwarding headers.
    fn fields<'a>(
        &'a self,
        req: &'a Raw<'a>,
        bearer: &'a HeaderValue,
    ) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        let hop = Hop::of(req.headers.iter().map(|h| (h.name.as_bytes(), h.value)));
        let own = req.headers.iter().filter(move |h| {
            let n = h.name;
            !(hop.is_hop(n.as_bytes())
                || n.eq_ignore_ascii_case("host")
                || n.eq_ignore_ascii_case("authorization")
                || n.eq_ignore_ascii_case("proxy-authorization")
                || n.eq_ignore_ascii_case("x-forwarded-for")
                || n.eq_ignore_ascii_case("x-forwarded-proto")
                || (self.host && n.eq_ignore_ascii_case("x-forwarded-host"))
                || self
                    .skip
                    .as_deref()
                    .is_some_and(|s| n.eq_ignore_ascii_case(s)))
        });
        let host = req.header("host").map(|h| (&b"x-forwarded-host"[..], h));
        own.map(|h| (h.name.as_bytes(), h.value))
            .chain([
                (&b"authorization"[..], bearer.as_bytes()),
                (&b"x-forwarded-for"[..], self.xff.as_bytes()),
                (&b"x-forwarded-proto"[..], &b"http"[..]),
            ])
            .chain(host)
    }
}

/// The request as [`super::forward_prepared`] takes it (for channels the lean client does not
/// serve).
fn into_parts(req: &Raw<'_>) -> Option<axum::http::request::Parts> {
    let mut builder = axum::http::Request::builder()
        .method(req.method.clone())
        .uri(req.target);
    for h in req.headers {
        builder = builder.header(h.name, h.value);
    }
    Some(builder.body(()).ok()?.into_parts().0)
}

/// Writes a receiver's answer: its head as received (less hop-by-hop headers) and its body as
/// it arrives, with its own `Content-Length`, or chunked anew when it was chunked or ran to
/// the end of the connection.
async fn write_answer(
    io: &mut TcpStream,
    out: &mut Vec<u8>,
    mut answer: h1::Answer,
    how: How,
) -> io::Result<()> {
    let chunked = !answer.length_framed;
    write_head(out, answer.status, || answer.fields(), chunked, how);
    if chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !chunked {
        // A small answer, all read with its head: one write.
        if let Some(body) = answer.body.take_whole() {
            out.extend_from_slice(&body);
            return io.write_all(out).await;
        }
        io.write_all(out).await?;
        while let Some(piece) = answer.body.next().await {
            io.write_all(&piece?).await?;
        }
        return Ok(());
    }
    while let Some(piece) = answer.body.next().await {
        let piece = piece?;
        if piece.is_empty() {
            continue;
        }
        chunk(out, &piece);
        io.write_all(out).await?;
        out.clear();
    }
    out.extend_from_slice(b"0\r\n\r\n");
    io.write_all(out).await
}
