//! The token cache: one entry per deployed credential version, shared by every consumer (seed:
//! "caches it against the name of the credential … if you use the same credential in another
//! adapter simultaneously, the token is reused").
//!
//! Rules (product brief §3), each tested under paused time below:
//! - **Single flight.** Any number of concurrent callers without a usable token cause exactly one
//!   token request; the others wait for its outcome. The request runs in its own task, so a
//!   caller that gives up does not cancel it for the others.
//! - **Refresh ahead, without a loop.** Once the remaining lifetime drops below
//!   `min(5 min, lifetime / 2)`, the next caller triggers one background refresh and is served the
//!   current token. A 5-second token is thus refreshed every 2.5 s at most, never in a loop.
//! - **Never stale.** A token is handed out only while more than `min(30 s, lifetime / 10)` of it
//!   remains, and never after its expiry.
//! - **Refusals are remembered** (`invalid_client`, other 4xx): callers get the error at once,
//!   backing off exponentially from 1 s to 60 s, so a wrong secret cannot hammer the provider.
//! - **Transient failures are retried** (network, 5xx, 429) with exponential backoff and jitter,
//!   honouring `Retry-After`, within the fetch deadline. A still-valid token keeps being served
//!   while the provider is down.
//! - **Eviction.** [`TokenCache::evict_credential`] drops every version of a credential (edit,
//!   delete, undeploy); [`TokenCache::evict_token`] drops a token only if it is still the one a
//!   consumer saw rejected (compare-and-evict), so 100 concurrent 401s cause one new request.
//!
//! Expiry runs on `tokio::time::Instant` (monotonic, pausable in tests); the wall-clock expiry
//! shown to consumers comes from the injected [`Clock`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::clock::{Clock, UnixMillis};
use crate::token_response::{Token, TokenError, TransportKind};

/// Tuning of the cache. The defaults are the product brief's.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Lifetime assumed when the server sends no `expires_in` (default 300 s).
    pub default_lifetime: Duration,
    /// First back-off after a refusal (default 1 s); doubles per consecutive refusal.
    pub refusal_backoff_min: Duration,
    /// Longest back-off after refusals (default 60 s).
    pub refusal_backoff_max: Duration,
    /// First retry delay after a transient failure (default 250 ms); doubles per attempt.
    pub retry_base: Duration,
    /// Longest retry delay (default 10 s).
    pub retry_max: Duration,
    /// Budget of one fetch including its retries (default 60 s).
    pub fetch_deadline: Duration,
    /// How long a fetch that failed transiently is remembered before the next one may start
    /// (default 1 s; at least the server's `Retry-After`).
    pub transient_hold: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            default_lifetime: Duration::from_secs(300),
            refusal_backoff_min: Duration::from_secs(1),
            refusal_backoff_max: Duration::from_secs(60),
            retry_base: Duration::from_millis(250),
            retry_max: Duration::from_secs(10),
            fetch_deadline: Duration::from_secs(60),
            transient_hold: Duration::from_secs(1),
        }
    }
}

/// One deployed credential at one version. A new version (any edit) is a new entry, so a new
/// secret or scope never serves an old token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The credential's stable id.
    pub credential_id: Arc<str>,
    /// Its version.
    pub version: i64,
}

/// A cached token and what the cache knows about it.
#[derive(Debug)]
pub struct CachedToken {
    /// The token.
    pub token: Token,
    /// When the request that produced it was sent (its lifetime counts from there).
    pub obtained_at: Instant,
    /// When it expires.
    pub expires_at: Instant,
    /// The same, on the wall clock, for consumers.
    pub expires_at_unix_ms: UnixMillis,
    /// Its whole lifetime (`expires_in`, or the default).
    pub lifetime: Duration,
    /// Whether the server said `expires_in`.
    pub lifetime_known: bool,
    serial: u64,
}

impl CachedToken {
    /// Time left at `now`.
    pub fn remaining(&self, now: Instant) -> Duration {
        self.expires_at.saturating_duration_since(now)
    }

    /// When a background refresh becomes due: `min(5 min, lifetime / 2)` before expiry.
    pub fn refresh_at(&self) -> Instant {
        self.expires_at - (self.lifetime / 2).min(Duration::from_secs(300))
    }

    /// The least remaining lifetime a token may be handed out with: `min(30 s, lifetime / 10)`.
    pub fn min_remaining(&self) -> Duration {
        (self.lifetime / 10).min(Duration::from_secs(30))
    }

    /// Whether it may be handed out at `now`.
    pub fn usable(&self, now: Instant) -> bool {
        now + self.min_remaining() < self.expires_at
    }
}

/// The outcome every waiter of one fetch receives.
type Outcome = Result<Arc<CachedToken>, Arc<TokenError>>;

/// Starts one token request. Called at most once at a time per cache entry.
pub type FetchFn =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<Token, TokenError>> + Send>> + Send + Sync>;

/// Latency buckets of the fetch histogram, in seconds (Prometheus `le` values).
pub const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A latency histogram over [`LATENCY_BUCKETS`]: counts per bucket (not cumulative) and the sum.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Counts per bucket; the last one is beyond every bound.
    pub buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    /// The sum of every observation, in microseconds.
    pub sum_micros: AtomicU64,
}

impl LatencyHistogram {
    /// Counts one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

/// Counters of one entry.
#[derive(Debug, Default)]
pub struct EntryStats {
    /// Callers served from the cache.
    pub hits: AtomicU64,
    /// Callers that had to wait for a fetch.
    pub misses: AtomicU64,
    /// Callers answered with a remembered refusal or failure, without a request.
    pub suppressed: AtomicU64,
    /// Token requests that succeeded.
    pub fetch_ok: AtomicU64,
    /// Token requests the provider refused.
    pub fetch_refused: AtomicU64,
    /// Token requests that failed otherwise (network, 5xx, invalid answers).
    pub fetch_failed: AtomicU64,
    /// Token request latency.
    pub latency: LatencyHistogram,
}

#[derive(Default)]
struct EntryState {
    token: Option<Arc<CachedToken>>,
    inflight: Option<watch::Receiver<Option<Outcome>>>,
    failure: Option<(Arc<TokenError>, Instant)>,
    refusals: u32,
}

struct Entry {
    /// Tells this entry apart from a later one under the same key (after an eviction), so that
    /// a fetch started for an evicted entry does not fill its successor.
    id: u64,
    label: Arc<str>,
    state: EntryState,
    stats: Arc<EntryStats>,
}

/// What [`TokenCache::for_each`] reports per entry.
pub struct EntrySnapshot<'a> {
    /// The entry's key.
    pub key: &'a CacheKey,
    /// The label given when it was created (the credential's name).
    pub label: &'a str,
    /// Its counters.
    pub stats: &'a EntryStats,
    /// Time until the cached token expires, if one is cached.
    pub expires_in: Option<Duration>,
}

struct Inner {
    config: CacheConfig,
    clock: Arc<dyn Clock>,
    /// One std lock over every entry, never held across an `.await`. The hit path only
    /// read-locks it (concurrent hits do not wait for each other); it is write-locked only to
    /// start or finish a fetch and to evict, a few field writes each time.
    entries: RwLock<HashMap<CacheKey, Entry, FastHash>>,
    serial: AtomicU64,
}

/// The shared token cache. Cheap to clone; clones share entries.
#[derive(Clone)]
pub struct TokenCache {
    inner: Arc<Inner>,
}

// A panic while holding the lock cannot leave these plain fields inconsistent, so poisoning is
// ignored.
fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl TokenCache {
    /// An empty cache.
    pub fn new(config: CacheConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                clock,
                entries: RwLock::new(HashMap::default()),
                serial: AtomicU64::new(1),
            }),
        }
    }

    /// A usable token for `key`, from the cache or from one shared call of the function `fetch`
    /// returns (called only when a request must be made). `label` names the entry in metrics
    /// (the credential's name).
    pub async fn get(
        &self,
        key: &CacheKey,
        label: &str,
        fetch: impl FnOnce() -> FetchFn,
    ) -> Result<Arc<CachedToken>, Arc<TokenError>> {
        let now = Instant::now();
        match self.hit(key, now) {
            Some(t) => Ok(t),
            None => self.get_slow(key, label, fetch, now).await,
        }
    }

    /// The cached token for `key` if it can be handed out now and needs no refresh, without
    /// waiting and without starting anything (what [`TokenCache::get`] tries first).
    pub fn cached(&self, key: &CacheKey) -> Option<Arc<CachedToken>> {
        self.hit(key, Instant::now())
    }

    /// The hit path: one read lock, no allocation.
    fn hit(&self, key: &CacheKey, now: Instant) -> Option<Arc<CachedToken>> {
        let entries = read(&self.inner.entries);
        let entry = entries.get(key)?;
        let t = entry.state.token.as_ref()?;
        if t.usable(now) && (now < t.refresh_at() || entry.state.inflight.is_some()) {
            entry.stats.hits.fetch_add(1, Ordering::Relaxed);
            return Some(t.clone());
        }
        None
    }

    async fn get_slow(
        &self,
        key: &CacheKey,
        label: &str,
        fetch: impl FnOnce() -> FetchFn,
        now: Instant,
    ) -> Result<Arc<CachedToken>, Arc<TokenError>> {
        let mut rx = {
            let mut entries = write(&self.inner.entries);
            let entry = entries.entry(key.clone()).or_insert_with(|| Entry {
                id: self.inner.serial.fetch_add(1, Ordering::Relaxed),
                label: Arc::from(label),
                state: EntryState::default(),
                stats: Arc::default(),
            });
            let s = &mut entry.state;
            if let Some(t) = s.token.clone() {
                if t.usable(now) {
                    let holding_off = s.failure.as_ref().is_some_and(|(_, until)| now < *until);
                    if now >= t.refresh_at() && s.inflight.is_none() && !holding_off {
                        self.start_fetch(key, entry, fetch());
                    }
                    entry.stats.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(t);
                }
                s.token = None;
            }
            if let Some((e, until)) = &s.failure
                && now < *until
                && s.inflight.is_none()
            {
                entry.stats.suppressed.fetch_add(1, Ordering::Relaxed);
                return Err(e.clone());
            }
            entry.stats.misses.fetch_add(1, Ordering::Relaxed);
            match &entry.state.inflight {
                Some(rx) => rx.clone(),
                None => self.start_fetch(key, entry, fetch()),
            }
        };
        let outcome = rx.wait_for(Option::is_some).await.map(|v| v.clone());
        match outcome {
            Ok(Some(o)) => o,
            _ => Err(Arc::new(TokenError::Transport {
                kind: TransportKind::Other,
                message: "the token request was abandoned (secmat is shutting down)".into(),
            })),
        }
    }

    fn start_fetch(
        &self,
        key: &CacheKey,
        entry: &mut Entry,
        fetch: FetchFn,
    ) -> watch::Receiver<Option<Outcome>> {
        let (tx, rx) = watch::channel(None);
        entry.state.inflight = Some(rx.clone());
        let inner = self.inner.clone();
        let (key, id, label, stats) = (
            key.clone(),
            entry.id,
            entry.label.clone(),
            entry.stats.clone(),
        );
        tokio::spawn(async move {
            let (result, sent_at, latency) = fetch_with_retries(&inner.config, &fetch).await;
            let outcome = inner.settle(&key, id, &label, &stats, result, sent_at, latency);
            let _ = tx.send(Some(outcome));
        });
        rx
    }

    /// Drops every cached version of a credential (after an edit, a delete or an undeploy).
    /// Returns how many entries were dropped.
    pub fn evict_credential(&self, credential_id: &str) -> usize {
        let mut entries = write(&self.inner.entries);
        let before = entries.len();
        entries.retain(|k, _| &*k.credential_id != credential_id);
        before - entries.len()
    }

    /// Drops `token` if it is still the cached token for `key` (compare-and-evict): a consumer
    /// whose receiver rejected the token calls this, and only the first of many such calls has
    /// an effect. Returns whether it was dropped.
    pub fn evict_token(&self, key: &CacheKey, token: &CachedToken) -> bool {
        let mut entries = write(&self.inner.entries);
        let Some(entry) = entries.get_mut(key) else {
            return false;
        };
        if entry
            .state
            .token
            .as_ref()
            .is_some_and(|t| t.serial == token.serial)
        {
            entry.state.token = None;
            true
        } else {
            false
        }
    }

    /// Calls `f` with every entry, for metrics (under the read lock: keep `f` short).
    pub fn for_each(&self, mut f: impl FnMut(EntrySnapshot<'_>)) {
        let now = Instant::now();
        for (key, entry) in read(&self.inner.entries).iter() {
            let expires_in = entry.state.token.as_ref().map(|t| t.remaining(now));
            f(EntrySnapshot {
                key,
                label: &entry.label,
                stats: &entry.stats,
                expires_in,
            });
        }
    }
}

impl Inner {
    /// Records a fetch's result in its entry (unless the entry was evicted meanwhile) and
    /// returns what its waiters get.
    #[allow(clippy::too_many_arguments)] // all of it describes the one fetch being settled
    fn settle(
        &self,
        key: &CacheKey,
        entry_id: u64,
        label: &str,
        stats: &EntryStats,
        result: Result<Token, TokenError>,
        sent_at: Instant,
        latency: Duration,
    ) -> Outcome {
        let now = Instant::now();
        stats.latency.observe(latency);
        let mut entries = write(&self.entries);
        let mut state = entries
            .get_mut(key)
            .filter(|e| e.id == entry_id)
            .map(|e| &mut e.state);
        if let Some(s) = state.as_deref_mut() {
            s.inflight = None;
        }
        match result {
            Ok(token) => {
                stats.fetch_ok.fetch_add(1, Ordering::Relaxed);
                let lifetime = token.expires_in.unwrap_or(self.config.default_lifetime);
                let age = now.saturating_duration_since(sent_at);
                let wall_sent =
                    self.clock.now_millis() - i64::try_from(age.as_millis()).unwrap_or(0);
                let cached = Arc::new(CachedToken {
                    lifetime_known: token.expires_in.is_some(),
                    token,
                    obtained_at: sent_at,
                    expires_at: sent_at + lifetime,
                    expires_at_unix_ms: wall_sent
                        + i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX / 2),
                    lifetime,
                    serial: self.serial.fetch_add(1, Ordering::Relaxed),
                });
                if let Some(s) = state {
                    s.token = Some(cached.clone());
                    s.failure = None;
                    s.refusals = 0;
                }
                Ok(cached)
            }
            Err(e) => {
                let refusals = state.as_ref().map_or(1, |s| s.refusals.saturating_add(1));
                let hold = if e.is_transient() {
                    stats.fetch_failed.fetch_add(1, Ordering::Relaxed);
                    e.retry_after()
                        .unwrap_or_default()
                        .max(self.config.transient_hold)
                } else {
                    if matches!(e, TokenError::Refused { .. }) {
                        stats.fetch_refused.fetch_add(1, Ordering::Relaxed);
                    } else {
                        stats.fetch_failed.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Some(s) = state.as_deref_mut() {
                        s.refusals = refusals;
                    }
                    let factor = 1u32 << refusals.saturating_sub(1).min(16);
                    (self.config.refusal_backoff_min * factor).min(self.config.refusal_backoff_max)
                };
                let e = Arc::new(e);
                if let Some(s) = state {
                    s.failure = Some((e.clone(), now + hold));
                }
                tracing::debug!(credential = %label, error = %e, hold_ms = hold.as_millis() as u64, "token request failed");
                Err(e)
            }
        }
    }
}

/// One fetch: attempts until success, a definitive failure, or the deadline. Returns the result,
/// when its (last) request was sent, and how long that request took.
async fn fetch_with_retries(
    config: &CacheConfig,
    fetch: &FetchFn,
) -> (Result<Token, TokenError>, Instant, Duration) {
    let deadline = Instant::now() + config.fetch_deadline;
    let mut attempt: u32 = 0;
    loop {
        let sent_at = Instant::now();
        let result = match tokio::time::timeout_at(deadline, fetch()).await {
            Ok(r) => r,
            Err(_) => Err(TokenError::Transport {
                kind: TransportKind::Timeout,
                message: format!("no answer within {} s", config.fetch_deadline.as_secs()),
            }),
        };
        let latency = sent_at.elapsed();
        match result {
            Err(e) if e.is_transient() => {
                attempt = attempt.saturating_add(1);
                let backoff =
                    (config.retry_base * (1u32 << (attempt - 1).min(16))).min(config.retry_max);
                let delay = e.retry_after().unwrap_or_else(|| jitter(backoff));
                if Instant::now() + delay >= deadline {
                    return (Err(e), sent_at, latency);
                }
                tracing::debug!(attempt, delay_ms = delay.as_millis() as u64, error = %e, "token request failed; retrying");
                tokio::time::sleep(delay).await;
            }
            other => return (other, sent_at, latency),
        }
    }
}

/// The FxHash function (rustc's): a multiply and a rotate per word, several times faster than
/// the default SipHash on the hit path. Its lack of HashDoS resistance does not matter here:
/// keys are credential ids the server generated at random, never chosen by a caller.
#[derive(Default, Clone, Copy)]
struct FastHash;

#[derive(Default)]
struct FxHasher(u64);

impl std::hash::BuildHasher for FastHash {
    type Hasher = FxHasher;
    fn build_hasher(&self) -> FxHasher {
        FxHasher(0)
    }
}

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        for b in chunks.remainder() {
            self.add(u64::from(*b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// A delay between `d / 2` and `d`, so that many nodes retrying do not do it in lockstep.
fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 2];
    let r = if getrandom::getrandom(&mut b).is_ok() {
        f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX)
    } else {
        0.5
    };
    d.mul_f64(0.5 + r / 2.0)
}

#[cfg(test)]
mod tests;
