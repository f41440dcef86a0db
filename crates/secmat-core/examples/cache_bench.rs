//! In-process cache hit against the floor: a bare `HashMap` lookup plus an `Arc` clone.
//!
//!     cargo run --release -p secmat-core --example cache_bench [-- ITERATIONS]
//!
//! Both loops run alternately, five rounds each, in one process; the report gives the median
//! nanoseconds per operation and the ratio (goal: a cache hit within 2x the floor).

#![allow(clippy::expect_used)] // a benchmark: failing loudly is right

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secmat_core::token_response::Token;
use secmat_core::{CacheConfig, CacheKey, FetchFn, SystemClock, TokenCache};
use secrecy::SecretString;

fn main() {
    let iterations: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let cache = TokenCache::new(CacheConfig::default(), Arc::new(SystemClock));
        let fetch: FetchFn = Arc::new(|| {
            Box::pin(async {
                Ok(Token {
                    access_token: SecretString::from("token".to_owned()),
                    token_type: "Bearer".into(),
                    expires_in: Some(Duration::from_secs(3600)),
                    scope: None,
                    http_status: 200,
                })
            })
        });
        // 1,000 credentials, as a busy node might hold; the benchmark hits one of them.
        let mut floor: HashMap<CacheKey, Arc<String>> = HashMap::new();
        let mut key = None;
        for i in 0..1000 {
            let k = CacheKey { credential_id: Arc::from(format!("{i:032x}").as_str()), version: 1 };
            cache.get(&k, "bench", || fetch.clone()).await.expect("warm");
            floor.insert(k.clone(), Arc::new(format!("token-{i}")));
            key = Some(k);
        }
        let key = key.expect("a key");

        let mut hits = Vec::new();
        let mut floors = Vec::new();
        let mut syncs = Vec::new();
        let mut nows = Vec::new();
        for _ in 0..5 {
            let start = Instant::now();
            for _ in 0..iterations {
                black_box(floor.get(black_box(&key)).cloned());
            }
            floors.push(start.elapsed().as_nanos() as f64 / iterations as f64);
            let start = Instant::now();
            for _ in 0..iterations {
                black_box(cache.get(black_box(&key), "bench", || fetch.clone()).await.is_ok());
            }
            hits.push(start.elapsed().as_nanos() as f64 / iterations as f64);
            let start = Instant::now();
            for _ in 0..iterations {
                black_box(cache.cached(black_box(&key)));
            }
            syncs.push(start.elapsed().as_nanos() as f64 / iterations as f64);
            let start = Instant::now();
            for _ in 0..iterations {
                black_box(tokio::time::Instant::now());
            }
            nows.push(start.elapsed().as_nanos() as f64 / iterations as f64);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (h, f) = (median(&mut hits), median(&mut floors));
        println!("floor (HashMap get + Arc clone): {f:.1} ns/op");
        println!("cache hit (TokenCache::get):     {h:.1} ns/op");
        println!("ratio: {:.2}x the floor (goal: <= 2x)", h / f);
        println!("(of which reading the monotonic clock: {:.1} ns; TokenCache::cached, no future: {:.1} ns)", median(&mut nows), median(&mut syncs));
    });
}
