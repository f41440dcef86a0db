//! The cache's rules under paused time: each test would fail without the rule it names.

use std::sync::atomic::{AtomicUsize, Ordering};

use secrecy::{ExposeSecret, SecretString};
use tokio::time::{Duration, advance};

use super::*;
use crate::clock::ManualClock;

/// A fake authorization server: counts requests, answers from a script.
#[derive(Clone)]
struct FakeIdp {
    calls: Arc<AtomicUsize>,
    script: Arc<dyn Fn(usize) -> Result<Option<u64>, TokenError> + Send + Sync>,
    latency: Duration,
}

impl FakeIdp {
    /// Issues `t1`, `t2`, … with lifetime `secs`.
    fn tokens(secs: u64) -> Self {
        Self::scripted(move |_| Ok(Some(secs)))
    }

    fn scripted(
        f: impl Fn(usize) -> Result<Option<u64>, TokenError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            calls: Arc::new(AtomicUsize::new(0)),
            script: Arc::new(f),
            latency: Duration::from_millis(50),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn fetch(&self) -> FetchFn {
        let me = self.clone();
        Arc::new(move || {
            let me = me.clone();
            Box::pin(async move {
                let n = me.calls.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(me.latency).await;
                (me.script)(n).map(|secs| Token {
                    access_token: SecretString::from(format!("t{n}")),
                    token_type: "Bearer".into(),
                    expires_in: secs.map(Duration::from_secs),
                    scope: None,
                    http_status: 200,
                })
            })
        })
    }
}

fn refused() -> TokenError {
    TokenError::Refused {
        status: 401,
        error: "invalid_client".into(),
        description: None,
        uri: None,
        retry_after: None,
    }
}

fn unavailable() -> TokenError {
    TokenError::Status {
        status: 503,
        excerpt: String::new(),
        retry_after: None,
    }
}

fn cache() -> TokenCache {
    TokenCache::new(CacheConfig::default(), Arc::new(ManualClock::at(1_000_000)))
}

fn key() -> CacheKey {
    CacheKey {
        credential_id: Arc::from("id-1"),
        version: 1,
    }
}

async fn token(c: &TokenCache, idp: &FakeIdp) -> Result<String, Arc<TokenError>> {
    c.get(&key(), "cred", || idp.fetch())
        .await
        .map(|t| t.token.access_token.expose_secret().to_owned())
}

/// Lets spawned background tasks run to completion (time is paused, so sleeps auto-advance).
async fn settle() {
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_thousand_concurrent_callers_cause_exactly_one_request_and_share_its_token() {
    let c = cache();
    let idp = FakeIdp::tokens(3600);
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let (c, idp) = (c.clone(), idp.clone());
        tasks.push(tokio::spawn(async move { token(&c, &idp).await }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), "t1");
    }
    assert_eq!(idp.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_token_is_reused_until_it_is_due_for_refresh() {
    let c = cache();
    let idp = FakeIdp::tokens(3600);
    assert_eq!(token(&c, &idp).await.unwrap(), "t1");
    advance(Duration::from_secs(3600 - 301)).await;
    assert_eq!(token(&c, &idp).await.unwrap(), "t1");
    assert_eq!(idp.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn refresh_ahead_serves_the_current_token_while_refreshing_in_the_background() {
    let c = cache();
    let idp = FakeIdp::tokens(3600);
    token(&c, &idp).await.unwrap();
    advance(Duration::from_secs(3600 - 299)).await;
    // Inside the 5-minute window: served at once, with the current token.
    assert_eq!(token(&c, &idp).await.unwrap(), "t1");
    settle().await;
    assert_eq!(idp.calls(), 2);
    assert_eq!(token(&c, &idp).await.unwrap(), "t2");
}

#[tokio::test(start_paused = true)]
async fn a_five_second_token_is_refreshed_at_half_its_life_not_in_a_loop() {
    let c = cache();
    let idp = FakeIdp::tokens(5);
    // 60 s of callers every 100 ms.
    for _ in 0..600 {
        token(&c, &idp).await.unwrap();
        advance(Duration::from_millis(100)).await;
    }
    // One refresh every ~2.5 s (plus the fetch latency): about 24 requests, never hundreds.
    let calls = idp.calls();
    assert!((20..=26).contains(&calls), "{calls} requests in 60 s");
}

#[tokio::test(start_paused = true)]
async fn a_24_hour_token_is_refreshed_five_minutes_before_expiry() {
    let c = cache();
    let idp = FakeIdp::tokens(86_400);
    token(&c, &idp).await.unwrap();
    advance(Duration::from_secs(86_400 - 360)).await;
    token(&c, &idp).await.unwrap();
    settle().await;
    assert_eq!(idp.calls(), 1, "not yet due");
    advance(Duration::from_secs(90)).await;
    assert_eq!(token(&c, &idp).await.unwrap(), "t1");
    settle().await;
    assert_eq!(idp.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_token_is_never_handed_out_with_less_than_its_minimum_remaining_lifetime() {
    let c = cache();
    // First token lives 100 s (minimum remaining: 10 s); every later request fails.
    let idp = FakeIdp::scripted(|n| {
        if n == 1 {
            Ok(Some(100))
        } else {
            Err(unavailable())
        }
    });
    token(&c, &idp).await.unwrap();
    advance(Duration::from_secs(89)).await;
    assert_eq!(
        token(&c, &idp).await.unwrap(),
        "t1",
        "11 s left: still served (refresh fails in the background)"
    );
    advance(Duration::from_millis(1500)).await;
    assert!(
        token(&c, &idp).await.is_err(),
        "9.5 s left: not handed out any more"
    );
}

#[tokio::test(start_paused = true)]
async fn a_token_is_never_handed_out_after_expiry() {
    let c = cache();
    let idp = FakeIdp::scripted(|n| if n == 1 { Ok(Some(60)) } else { Err(refused()) });
    token(&c, &idp).await.unwrap();
    advance(Duration::from_secs(61)).await;
    assert!(token(&c, &idp).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn a_still_valid_token_keeps_being_served_while_the_provider_is_down() {
    let c = cache();
    let idp = FakeIdp::scripted(|n| {
        if n == 1 {
            Ok(Some(3600))
        } else {
            Err(unavailable())
        }
    });
    token(&c, &idp).await.unwrap();
    advance(Duration::from_secs(3400)).await;
    for _ in 0..100 {
        assert_eq!(token(&c, &idp).await.unwrap(), "t1");
        advance(Duration::from_secs(1)).await;
    }
    assert!(idp.calls() > 1, "refreshes were attempted");
}

#[tokio::test(start_paused = true)]
async fn refusals_are_remembered_with_exponential_backoff_up_to_a_minute() {
    let c = cache();
    let idp = FakeIdp::scripted(|_| Err(refused()));
    let err = token(&c, &idp).await.unwrap_err();
    assert!(matches!(*err, TokenError::Refused { ref error, .. } if error == "invalid_client"));
    // Within the back-off: answered at once, no request.
    for _ in 0..10 {
        assert!(token(&c, &idp).await.is_err());
    }
    assert_eq!(idp.calls(), 1);
    // Back-off doubles: 1 s, 2 s, 4 s, … capped at 60 s.
    let mut expected_calls = 1;
    for backoff in [1u64, 2, 4, 8, 16, 32, 60, 60] {
        advance(Duration::from_millis(backoff * 1000 - 100)).await;
        token(&c, &idp).await.unwrap_err();
        assert_eq!(
            idp.calls(),
            expected_calls,
            "still backing off ({backoff} s)"
        );
        advance(Duration::from_millis(200)).await;
        token(&c, &idp).await.unwrap_err();
        expected_calls += 1;
        assert_eq!(idp.calls(), expected_calls, "back-off of {backoff} s over");
    }
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_within_one_fetch() {
    let c = cache();
    let idp = FakeIdp::scripted(|n| {
        if n < 3 {
            Err(unavailable())
        } else {
            Ok(Some(3600))
        }
    });
    assert_eq!(token(&c, &idp).await.unwrap(), "t3");
    assert_eq!(idp.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured() {
    let c = cache();
    let idp = FakeIdp::scripted(|n| {
        if n == 1 {
            Err(TokenError::Status {
                status: 429,
                excerpt: String::new(),
                retry_after: Some(7),
            })
        } else {
            Ok(Some(3600))
        }
    });
    let started = Instant::now();
    assert_eq!(token(&c, &idp).await.unwrap(), "t2");
    assert!(
        started.elapsed() >= Duration::from_secs(7),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_provider_that_stays_down_fails_the_fetch_at_its_deadline() {
    let c = TokenCache::new(
        CacheConfig {
            fetch_deadline: Duration::from_secs(5),
            ..CacheConfig::default()
        },
        Arc::new(ManualClock::at(0)),
    );
    let idp = FakeIdp::scripted(|_| Err(unavailable()));
    let started = Instant::now();
    assert!(token(&c, &idp).await.is_err());
    assert!(started.elapsed() <= Duration::from_secs(5));
    assert!(idp.calls() >= 3, "retried: {}", idp.calls());
}

#[tokio::test(start_paused = true)]
async fn evicting_a_credential_drops_its_token_at_once() {
    let c = cache();
    let idp = FakeIdp::tokens(3600);
    token(&c, &idp).await.unwrap();
    assert_eq!(c.evict_credential("id-1"), 1);
    assert_eq!(token(&c, &idp).await.unwrap(), "t2");
    assert_eq!(c.evict_credential("other"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_new_version_is_a_new_entry() {
    let c = cache();
    let idp = FakeIdp::tokens(3600);
    token(&c, &idp).await.unwrap();
    let v2 = CacheKey {
        credential_id: Arc::from("id-1"),
        version: 2,
    };
    let t = c.get(&v2, "cred", || idp.fetch()).await.unwrap();
    assert_eq!(t.token.access_token.expose_secret(), "t2");
}

#[tokio::test(start_paused = true)]
async fn a_hundred_concurrent_compare_and_evicts_cause_one_new_request() {
    let c = cache();
    let idp = FakeIdp::tokens(3600);
    let seen = c.get(&key(), "cred", || idp.fetch()).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (c, idp, seen) = (c.clone(), idp.clone(), seen.clone());
        tasks.push(tokio::spawn(async move {
            c.evict_token(&key(), &seen);
            token(&c, &idp).await.unwrap()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), "t2");
    }
    assert_eq!(idp.calls(), 2);
    // Evicting with a token that is no longer current does nothing.
    assert!(!c.evict_token(&key(), &seen));
    assert_eq!(token(&c, &idp).await.unwrap(), "t2");
}

#[tokio::test(start_paused = true)]
async fn a_missing_expires_in_means_the_default_lifetime() {
    let c = cache();
    let idp = FakeIdp::scripted(|_| Ok(None));
    let t = c.get(&key(), "cred", || idp.fetch()).await.unwrap();
    assert_eq!(t.lifetime, Duration::from_secs(300));
    assert!(!t.lifetime_known);
    // Counted from when the request was sent: the (manual) wall clock stood still during the
    // 50 ms the fake server took, so the request went out 50 ms before "now".
    assert_eq!(t.expires_at_unix_ms, 1_000_000 - 50 + 300_000);
}

#[tokio::test(start_paused = true)]
async fn statistics_count_hits_misses_and_outcomes() {
    let c = cache();
    let idp = FakeIdp::tokens(3600);
    token(&c, &idp).await.unwrap();
    token(&c, &idp).await.unwrap();
    let mut seen = 0;
    c.for_each(|e| {
        seen += 1;
        assert_eq!(e.label, "cred");
        assert_eq!(e.stats.hits.load(Ordering::Relaxed), 1);
        assert_eq!(e.stats.misses.load(Ordering::Relaxed), 1);
        assert_eq!(e.stats.fetch_ok.load(Ordering::Relaxed), 1);
        assert!(e.expires_in.is_some());
    });
    assert_eq!(seen, 1);
}

#[tokio::test(start_paused = true)]
async fn a_caller_that_gives_up_does_not_cancel_the_request_for_others() {
    let c = cache();
    let mut idp = FakeIdp::tokens(3600);
    idp.latency = Duration::from_secs(5);
    let impatient = tokio::time::timeout(Duration::from_secs(1), token(&c, &idp)).await;
    assert!(impatient.is_err());
    assert_eq!(token(&c, &idp).await.unwrap(), "t1");
    assert_eq!(idp.calls(), 1);
}
