//! `GET /metrics` in Prometheus text format: per credential, token requests by outcome, cache
//! hits and misses, token request latency, and seconds until the cached token expires; per
//! HTTP receiver channel, requests by status class, retries after 401 and upstream latency.
//!
//! Counters live in the token cache's entries (one per credential version); an edit starts a
//! new entry, which Prometheus sees as a counter reset (`rate()` handles it).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use secmat_core::token_cache::{LATENCY_BUCKETS, LatencyHistogram};

use crate::state::AppState;

/// Escapes a label value (backslash, quote, line feed).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Appends one labelled histogram (`_bucket`, `_sum`, `_count`) from per-bucket counts.
fn histogram(
    out: &mut String,
    name: &str,
    label_name: &str,
    label_value: &str,
    h: &LatencyHistogram,
) {
    let mut cumulative = 0;
    for (i, le) in LATENCY_BUCKETS
        .iter()
        .map(|b| b.to_string())
        .chain(std::iter::once("+Inf".to_owned()))
        .enumerate()
    {
        cumulative += h.buckets[i].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{{label_name}=\"{label_value}\",le=\"{le}\"}} {cumulative}"
        );
    }
    let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
    let _ = writeln!(out, "{name}_sum{{{label_name}=\"{label_value}\"}} {sum}");
    let _ = writeln!(
        out,
        "{name}_count{{{label_name}=\"{label_value}\"}} {cumulative}"
    );
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
        let _ = writeln!(
            hits,
            "secmat_token_cache_hits_total{{credential=\"{c}\"}} {}",
            s.hits.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            misses,
            "secmat_token_cache_misses_total{{credential=\"{c}\"}} {}",
            s.misses.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            suppressed,
            "secmat_token_cache_suppressed_total{{credential=\"{c}\"}} {}",
            s.suppressed.load(Ordering::Relaxed)
        );
        for (outcome, n) in [
            ("ok", &s.fetch_ok),
            ("refused", &s.fetch_refused),
            ("failed", &s.fetch_failed),
        ] {
            let _ = writeln!(
                requests,
                "secmat_token_requests_total{{credential=\"{c}\",outcome=\"{outcome}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        histogram(
            &mut latency,
            "secmat_token_request_duration_seconds",
            "credential",
            &c,
            &s.latency,
        );
        if let Some(left) = e.expires_in {
            let _ = writeln!(
                expiry,
                "secmat_token_expires_in_seconds{{credential=\"{c}\"}} {:.3}",
                left.as_secs_f64()
            );
        }
    });
    let mut gw_requests = String::new();
    let mut gw_retries = String::new();
    let mut gw_latency = String::new();
    state.gateway.for_each_stats(|name, s| {
        let c = label(name);
        for (i, class) in ["1xx", "2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
            let _ = writeln!(
                gw_requests,
                "secmat_gateway_requests_total{{channel=\"{c}\",class=\"{class}\"}} {}",
                s.by_class[i].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            gw_retries,
            "secmat_gateway_retries_total{{channel=\"{c}\"}} {}",
            s.retries.load(Ordering::Relaxed)
        );
        histogram(
            &mut gw_latency,
            "secmat_gateway_upstream_duration_seconds",
            "channel",
            &c,
            &s.latency,
        );
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
        (
            "secmat_gateway_requests_total",
            "counter",
            "Requests through each HTTP receiver channel, by status class of the answer.",
            gw_requests,
        ),
        (
            "secmat_gateway_retries_total",
            "counter",
            "Requests sent again after the receiver answered 401.",
            gw_retries,
        ),
        (
            "secmat_gateway_upstream_duration_seconds",
            "histogram",
            "Time to the receiver's response headers.",
            gw_latency,
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
