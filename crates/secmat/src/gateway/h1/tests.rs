//! The lean client against a scripted receiver: each accepted connection reads requests and
//! answers them from a shared script, recording what arrived.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::BodyExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use super::*;

/// One scripted answer: its bytes, and whether to close the connection after it.
type Answer = (&'static [u8], bool);

#[derive(Default)]
struct Seen {
    requests: Vec<String>,
    connections: usize,
}

async fn receiver(script: Vec<Answer>) -> (SocketAddr, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((io, _)) = listener.accept().await {
            s.lock().unwrap().connections += 1;
            tokio::spawn(answer(io, s.clone(), script.clone()));
        }
    });
    (addr, seen)
}

/// Reads requests (a head, then `content-length` bytes) and answers each from the script.
async fn answer(
    mut io: tokio::net::TcpStream,
    seen: Arc<Mutex<Seen>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match io.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |v| v.trim().parse::<usize>().unwrap());
        while buf.len() < end + length {
            let n = io.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
        }
        let request = String::from_utf8_lossy(&buf[..end + length]).to_string();
        buf.drain(..end + length);
        seen.lock().unwrap().requests.push(request);
        let Some((answer, close)) = script.lock().unwrap().pop_front() else {
            return;
        };
        io.write_all(answer).await.unwrap();
        if close {
            return;
        }
    }
}

async fn get(
    addr: SocketAddr,
    method: Method,
    body: &'static [u8],
) -> Result<Response<Body>, Error> {
    let authority = addr.to_string();
    let target = Target {
        authority: &authority,
        path: ["/a", "/b", "?", "x=1"],
    };
    let mut headers = HeaderMap::new();
    headers.insert("x-test", HeaderValue::from_static("yes"));
    let body = Bytes::from_static(body);
    send(&method, &target, &headers, &body, Duration::from_secs(5)).await
}

#[test]
fn the_request_target_is_always_in_origin_form() {
    let line = |path: [&str; 4]| {
        let target = Target {
            authority: "h:1",
            path,
        };
        let mut out = Vec::new();
        encode(&mut out, &Method::GET, &target, [], b"");
        let out = String::from_utf8(out).unwrap();
        out.lines().next().unwrap().to_owned()
    };
    assert_eq!(line(["", "", "", ""]), "GET / HTTP/1.1");
    assert_eq!(line(["", "", "?", "q=1"]), "GET /?q=1 HTTP/1.1");
    assert_eq!(
        line(["/base", "/x%20y", "?", "a&b"]),
        "GET /base/x%20y?a&b HTTP/1.1"
    );
}

async fn call(addr: SocketAddr, method: Method, body: &'static [u8]) -> (u16, String) {
    let res = get(addr, method, body).await.unwrap();
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).to_string())
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

#[tokio::test]
async fn requests_carry_host_headers_and_length_and_reuse_the_connection() {
    let (addr, seen) = receiver(vec![(OK, false), (OK, false)]).await;
    assert_eq!(call(addr, Method::GET, b"").await, (200, "ok".into()));
    assert_eq!(
        call(addr, Method::POST, b"{\"k\":1}").await,
        (200, "ok".into())
    );
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.connections, 1,
        "the second request reuses the connection"
    );
    let first = &seen.requests[0];
    assert!(first.starts_with("GET /a/b?x=1 HTTP/1.1\r\n"), "{first}");
    assert!(first.contains(&format!("host: {addr}\r\n")), "{first}");
    assert!(first.contains("x-test: yes\r\n"), "{first}");
    assert!(
        !first.contains("content-length"),
        "no body, no length: {first}"
    );
    let second = &seen.requests[1];
    assert!(second.starts_with("POST /a/b?x=1 HTTP/1.1\r\n"), "{second}");
    assert!(
        second.ends_with("content-length: 7\r\n\r\n{\"k\":1}"),
        "{second}"
    );
}

#[tokio::test]
async fn chunked_answers_are_decoded_with_extensions_and_trailers() {
    let chunked: &[u8] = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nx-trailer: t\r\n\r\n";
    let (addr, seen) = receiver(vec![(chunked, false), (OK, false)]).await;
    let res = get(addr, Method::GET, b"").await.unwrap();
    assert!(res.headers().get("transfer-encoding").is_some());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"hello, world");
    assert_eq!(call(addr, Method::GET, b"").await, (200, "ok".into()));
    assert_eq!(
        seen.lock().unwrap().connections,
        1,
        "reused after the last chunk"
    );
}

#[tokio::test]
async fn head_204_and_304_answers_have_no_body_and_1xx_heads_are_skipped() {
    let head: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n";
    let continued: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
    let not_modified: &[u8] = b"HTTP/1.1 304 Not Modified\r\ncontent-length: 5\r\n\r\n";
    let script = vec![
        (head, false),
        (continued, false),
        (not_modified, false),
        (OK, false),
    ];
    let (addr, seen) = receiver(script).await;
    assert_eq!(call(addr, Method::HEAD, b"").await, (200, String::new()));
    assert_eq!(call(addr, Method::PUT, b"x").await, (204, String::new()));
    assert_eq!(call(addr, Method::GET, b"").await, (304, String::new()));
    assert_eq!(call(addr, Method::GET, b"").await, (200, "ok".into()));
    assert_eq!(seen.lock().unwrap().connections, 1);
}

#[tokio::test]
async fn bodies_without_length_run_to_the_end_and_close_is_honoured() {
    let eof: &[u8] = b"HTTP/1.1 200 OK\r\n\r\nuntil the end";
    let close: &[u8] = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\nc";
    let http10: &[u8] = b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\n10";
    // A coding other than chunked: the length does not count, the end of the connection does.
    let coded: &[u8] =
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\ncontent-length: 2\r\n\r\nabcdef";
    let script = vec![
        (eof, true),
        (close, true),
        (http10, true),
        (coded, true),
        (OK, false),
    ];
    let (addr, seen) = receiver(script).await;
    assert_eq!(
        call(addr, Method::GET, b"").await,
        (200, "until the end".into())
    );
    assert_eq!(call(addr, Method::GET, b"").await, (200, "c".into()));
    assert_eq!(call(addr, Method::GET, b"").await, (200, "10".into()));
    assert_eq!(call(addr, Method::GET, b"").await, (200, "abcdef".into()));
    assert_eq!(call(addr, Method::GET, b"").await, (200, "ok".into()));
    assert_eq!(
        seen.lock().unwrap().connections,
        5,
        "none of those could be reused"
    );
}

#[tokio::test]
async fn a_connection_the_receiver_closed_while_idle_is_not_reused() {
    // The receiver closes after each answer without saying so; POST is not retried, so each
    // must go out on a connection that is still open.
    let (addr, seen) = receiver(vec![(OK, true), (OK, true), (OK, true)]).await;
    for _ in 0..3 {
        assert_eq!(call(addr, Method::POST, b"x").await, (200, "ok".into()));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen.lock().unwrap().connections, 3);
}

#[tokio::test]
async fn large_bodies_stream_in_pieces_and_free_the_connection_at_the_end() {
    static BIG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let big = BIG.get_or_init(|| {
        let mut v = b"HTTP/1.1 200 OK\r\ncontent-length: 200000\r\n\r\n".to_vec();
        v.extend(std::iter::repeat_n(b'z', 200_000));
        v
    });
    let (addr, seen) = receiver(vec![(big.as_slice(), false), (OK, false)]).await;
    let mut body = get(addr, Method::GET, b"").await.unwrap().into_body();
    let (mut frames, mut total) = (0, 0);
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        assert!(data.iter().all(|b| *b == b'z'));
        total += data.len();
        frames += 1;
    }
    assert_eq!(total, 200_000);
    assert!(frames > 1, "streamed, not gathered");
    assert_eq!(call(addr, Method::GET, b"").await, (200, "ok".into()));
    assert_eq!(
        seen.lock().unwrap().connections,
        1,
        "reused after the whole body"
    );
}

#[tokio::test]
async fn broken_answers_are_errors_not_panics() {
    for answer in [
        &b"NOT HTTP\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
    ] {
        let (addr, _) = receiver(vec![(answer, true)]).await;
        let r = match get(addr, Method::GET, b"").await {
            Ok(res) => res
                .into_body()
                .collect()
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        assert!(r.is_err(), "{:?}", String::from_utf8_lossy(answer));
    }
    // Closed without a word, and in the middle of a body.
    let (addr, _) = receiver(vec![(b"", true)]).await;
    assert!(matches!(
        get(addr, Method::GET, b"").await,
        Err(Error::Closed)
    ));
    let cut: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc";
    let (addr, _) = receiver(vec![(cut, true)]).await;
    let res = get(addr, Method::GET, b"").await.unwrap();
    assert!(res.into_body().collect().await.is_err());
    // Nothing listens.
    let nobody = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    assert!(matches!(
        get(nobody, Method::GET, b"").await,
        Err(Error::Connect(_))
    ));
}

#[test]
fn content_lengths_are_digits_only() {
    assert_eq!(content_length(b"12"), Some(12));
    assert_eq!(content_length(b" 0 "), Some(0));
    for bad in [
        &b"+5"[..],
        b"-1",
        b"",
        b" ",
        b"1 2",
        b"0x10",
        b"99999999999999999999999",
    ] {
        assert_eq!(
            content_length(bad),
            None,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}
