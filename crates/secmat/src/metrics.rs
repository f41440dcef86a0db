//! `GET /metrics` in Prometheus text format: per credential, token requests by outcome, cache
//! hits and misses, token request latency, and seconds until the cached token expires.
//!
//! Counters live in the token cache's entries (one per credential version); an edit starts a
//! new entry, which Prometheus sees as a counter reset (`rate()` handles it).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use secmat_core::token_cache::LATENCY_BUCKETS;

use crate::state::AppState;

/// Escapes a label value (backslash, quote, line feed).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders every metric.
pub fn render(state: &AppState) -> String {
    let mut hits = String::new();
    let mut misses = String::new();
    let mut suppressed = String::new();
    let mut requests = String::new();
    let mut latency = String::new();
    let mut expiry = String::new();
    state.tokens.cache().for_each(|e| {
        let c = label(e.label);
        let s = e.stats;
        let _ = writeln!(hits, "secmat_token_cache_hits_total{{credential=\"{c}\"}} {}", s.hits.load(Ordering::Relaxed));
        let _ = writeln!(misses, "secmat_token_cache_misses_total{{credential=\"{c}\"}} {}", s.misses.load(Ordering::Relaxed));
        let _ = writeln!(suppressed, "secmat_token_cache_suppressed_total{{credential=\"{c}\"}} {}", s.suppressed.load(Ordering::Relaxed));
        for (outcome, n) in [("ok", &s.fetch_ok), ("refused", &s.fetch_refused), ("failed", &s.fetch_failed)] {
            let _ = writeln!(requests, "secmat_token_requests_total{{credential=\"{c}\",outcome=\"{outcome}\"}} {}", n.load(Ordering::Relaxed));
        }
        let mut cumulative = 0;
        for (i, le) in LATENCY_BUCKETS.iter().map(|b| b.to_string()).chain(std::iter::once("+Inf".to_owned())).enumerate() {
            cumulative += s.latency_buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(latency, "secmat_token_request_duration_seconds_bucket{{credential=\"{c}\",le=\"{le}\"}} {cumulative}");
        }
        let sum = s.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(latency, "secmat_token_request_duration_seconds_sum{{credential=\"{c}\"}} {sum}");
        let _ = writeln!(latency, "secmat_token_request_duration_seconds_count{{credential=\"{c}\"}} {cumulative}");
        if let Some(left) = e.expires_in {
            let _ = writeln!(expiry, "secmat_token_expires_in_seconds{{credential=\"{c}\"}} {:.3}", left.as_secs_f64());
        }
    });
    let mut out = String::new();
    for (name, kind, help, body) in [
        (
            "secmat_token_cache_hits_total",
            "counter",
            "Token requests served from the cache.",
            hits,
        ),
        (
            "secmat_token_cache_misses_total",
            "counter",
            "Callers that waited for a token request.",
            misses,
        ),
        (
            "secmat_token_cache_suppressed_total",
            "counter",
            "Callers answered with a remembered failure, without a request.",
            suppressed,
        ),
        (
            "secmat_token_requests_total",
            "counter",
            "Token requests sent to the authorization server, by outcome.",
            requests,
        ),
        (
            "secmat_token_request_duration_seconds",
            "histogram",
            "Latency of token requests.",
            latency,
        ),
        (
            "secmat_token_expires_in_seconds",
            "gauge",
            "Seconds until the cached token expires.",
            expiry,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        out.push_str(&body);
    }
    out
}

/// `GET /metrics`
pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&state),
    )
}
