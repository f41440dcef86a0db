//! Writing responses straight to a connection (for the lanes of [`super`]): the status line,
//! headers without hop-by-hop ones, `Date` when missing, and the body framed by its length or
//! chunked.

use std::io;

use axum::http::StatusCode;
use axum::response::Response;
use http_body_util::BodyExt as _;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

use crate::gateway::Hop;
use crate::state::AppState;

/// How a response is written: without a body (an answer to HEAD), with `Connection: close`,
/// with this `Date` when it has none.
#[derive(Clone, Copy)]
pub struct How {
    /// The request was HEAD.
    pub head_only: bool,
    /// The connection closes after this response.
    pub close: bool,
    /// [`http_date`] of the request.
    pub date: [u8; 29],
}

/// Writes the status line and `fields` (without hop-by-hop headers, and without
/// `Content-Length` when `skip_length`) to `out`, then `Date` when they have none and
/// `Connection: close` when the connection closes.
pub fn write_head<'a, I: Iterator<Item = (&'a [u8], &'a [u8])>>(
    out: &mut Vec<u8>,
    status: StatusCode,
    fields: impl Fn() -> I,
    skip_length: bool,
    how: How,
) {
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let hop = Hop::of(fields());
    let mut dated = false;
    for (name, value) in fields() {
        if hop.is_hop(name) || (skip_length && name.eq_ignore_ascii_case(b"content-length")) {
            continue;
        }
        dated |= name.eq_ignore_ascii_case(b"date");
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if !dated {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(&how.date);
        out.extend_from_slice(b"\r\n");
    }
    if how.close {
        out.extend_from_slice(b"connection: close\r\n");
    }
}

/// Appends `data` to `out` as one chunk.
pub fn chunk(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Writes a response made by secmat (an error, or an answer through hyper-util's client),
/// its body as it comes. Returns its status.
pub async fn write_response(
    io: &mut TcpStream,
    out: &mut Vec<u8>,
    res: Response,
    how: How,
) -> io::Result<StatusCode> {
    let (parts, mut body) = res.into_parts();
    let status = parts.status;
    let fields = || {
        parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
    };
    let bodiless = how.head_only
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let has_length = parts
        .headers
        .contains_key(axum::http::header::CONTENT_LENGTH);
    let exact = http_body::Body::size_hint(&body).exact();
    write_head(out, status, fields, false, how);
    let chunked = !bodiless && !has_length && exact.is_none();
    if !bodiless
        && !has_length
        && let Some(n) = exact
    {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(n.to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    } else if chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if bodiless {
        io.write_all(out).await?;
        return Ok(status);
    }
    let mut first = true;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(io::Error::other)?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers are not passed on
        };
        if data.is_empty() {
            continue;
        }
        if !first {
            out.clear();
        }
        first = false;
        if chunked {
            chunk(out, &data);
        } else {
            out.extend_from_slice(&data);
        }
        io.write_all(out).await?;
    }
    if first {
        // Nothing was written yet: the head (and an empty body).
        if chunked {
            out.extend_from_slice(b"0\r\n\r\n");
        }
        io.write_all(out).await?;
    } else if chunked {
        io.write_all(b"0\r\n\r\n").await?;
    }
    Ok(status)
}

thread_local! {
    /// The `Date` value of the current second.
    static DATE: std::cell::RefCell<(u64, [u8; 29])> = const { std::cell::RefCell::new((0, [b' '; 29])) };
}

/// The state's time as an HTTP date (RFC 9110 §5.6.7), formatted once a second.
pub fn http_date(state: &AppState) -> [u8; 29] {
    let secs = u64::try_from(state.clock.now_millis() / 1000).unwrap_or(0);
    DATE.with_borrow_mut(|(at, text)| {
        if *at != secs {
            let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            let s = httpdate::fmt_http_date(now);
            if s.len() == text.len() {
                text.copy_from_slice(s.as_bytes());
                *at = secs;
            }
        }
        *text
    })
}
