//! The event loops that serve HTTP: one thread each, every connection handled start to finish on
//! the loop it was given, and connections *packed* onto as few loops as keep up with the load.
//!
//! Loop 0 accepts, and places each connection by what its first request is for (peeked at,
//! not read):
//!
//! - **Answered from memory** (the token API, the management API, the monitor): to the first
//!   loop (in order) that was lately busy less than [`BUSY`] of the time, else to the least busy.
//!   A light load stays on one core, whose event loop then finds several requests waiting when
//!   it wakes instead of being woken for each (on a small machine the wake-ups cost more than
//!   the requests); further cores join as the load grows.
//! - **Gateway requests**, each of which waits on a receiver: to the first loop below [`BUSY`]
//!   with fewer than [`PACK`] such connections, else to the least busy, and among loops about as
//!   busy, to the one with the fewest. Their work alternates with the receiver's, whose process
//!   needs a core too; one loop holding every connection left cores idle. Counting connections
//!   as well as load matters for bursts: a client that opens sixteen connections at once opens
//!   them all before any loop looks busy.
//!
//! Measured on two cores with the client on the same machine (`bench/`): sixteen token API
//! connections on one loop served 1.4× what they did spread over two; sixteen gateway
//! connections spread over two served 1.2× what they did on one.
//!
//! How busy a loop is comes from its runtime's park and unpark hooks ([`LoopGauge`]): the share
//! of the last moments it spent awake, not the number of its connections (one busy connection can saturate a loop,
//! a thousand idle ones cost nothing).
//!
//! Connections keep the loop they were given. Shutdown stops the accepting and lets every loop
//! finish the requests in flight.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::shutdown::Shutdown;

/// A loop busy at least this fraction of the time takes new connections only if every loop is.
pub const BUSY: f64 = 0.5;
/// A loop takes new gateway connections while it has fewer than this many (and is not
/// [`BUSY`]); then the next loop fills up, and once every loop has this many, they go to the
/// least busy.
pub const PACK: usize = 4;
/// How long the acceptor waits for a new connection's first bytes before placing it as one
/// answered from memory.
pub const FIRST_BYTES: Duration = Duration::from_millis(50);
/// The time constant of the load estimate: what a loop did longer ago than this fades out.
pub const HORIZON: Duration = Duration::from_millis(50);

/// How busy one event loop has been lately, fed by its runtime's park hooks: an exponentially
/// weighted share of the time it spent awake (1.0 = never slept), over about [`HORIZON`].
/// Only the loop's own thread writes it; the acceptor reads it (a stale read is harmless).
pub struct LoopGauge {
    epoch: Instant,
    /// When the loop last woke or slept, in nanoseconds since `epoch`.
    since: AtomicU64,
    /// The estimate at that moment (`f64` bits).
    load: AtomicU64,
    awake: AtomicBool,
    /// Gateway connections given to the loop and not yet ended.
    proxies: std::sync::atomic::AtomicUsize,
}

impl Default for LoopGauge {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            since: AtomicU64::new(0),
            load: AtomicU64::new(0f64.to_bits()),
            awake: AtomicBool::new(false),
            proxies: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

impl LoopGauge {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The estimate at `now`, extrapolating the current spell (awake or asleep).
    fn at(&self, now: u64) -> f64 {
        let since = self.since.load(Ordering::Relaxed);
        let load = f64::from_bits(self.load.load(Ordering::Relaxed));
        let fade = (-(now.saturating_sub(since) as f64) / HORIZON.as_nanos() as f64).exp();
        let target = if self.awake.load(Ordering::Relaxed) {
            1.0
        } else {
            0.0
        };
        load * fade + target * (1.0 - fade)
    }

    fn flip(&self, awake: bool, now: u64) {
        let load = self.at(now);
        self.load.store(load.to_bits(), Ordering::Relaxed);
        self.since.store(now, Ordering::Relaxed);
        self.awake.store(awake, Ordering::Relaxed);
    }

    /// Called by the runtime when the loop wakes up.
    pub fn unparked(&self) {
        self.flip(true, self.now_ns());
    }

    /// Called by the runtime when the loop goes to sleep.
    pub fn parked(&self) {
        self.flip(false, self.now_ns());
    }

    /// How busy the loop has been lately, from 0.0 (asleep) to 1.0 (never slept).
    pub fn load(&self) -> f64 {
        self.at(self.now_ns())
    }
}

/// A loop as the acceptor sees it: its gauge, and where to send it connections (`None` for the
/// acceptor's own loop).
pub struct Peer {
    gauge: Arc<LoopGauge>,
    inbox: Option<mpsc::UnboundedSender<Arrival>>,
}

/// Creates loop `i`'s gauge and inbox; returns the acceptor's view of it and the receiving end
/// for [`run_loop`].
pub fn peer(gauge: Arc<LoopGauge>) -> (Peer, mpsc::UnboundedReceiver<Arrival>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        Peer {
            gauge,
            inbox: Some(tx),
        },
        rx,
    )
}

/// The acceptor's own loop.
pub fn own(gauge: Arc<LoopGauge>) -> Peer {
    Peer { gauge, inbox: None }
}

/// How often [`timer_anchor`] wakes.
pub const ANCHOR: Duration = Duration::from_secs(1);

/// Keeps a timer pending on this loop at all times, at most [`ANCHOR`] away. tokio wakes its
/// driver through an `eventfd` write (a system call) whenever a timer is set that is due before
/// every other, even from the loop's own thread; with this one pending, a request's timeout
/// (the gateway's channel timeout, 60 s by default) never is, and about one request in four no
/// longer pays for that write. Costs one wake-up a second.
pub async fn timer_anchor() {
    let mut at = tokio::time::Instant::now();
    loop {
        at += ANCHOR;
        tokio::time::sleep_until(at).await;
    }
}

/// What a connection is for, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Gateway requests (`/gateway/…`).
    Proxy,
    /// Anything else.
    Local,
}

impl Kind {
    /// The kind of a connection whose first bytes are `first`: a request line whose target
    /// starts with `/gateway/`.
    pub fn of(first: &[u8]) -> Kind {
        let target = first
            .iter()
            .position(|b| *b == b' ')
            .and_then(|i| first.get(i + 1..));
        match target {
            Some(t) if t.starts_with(b"/gateway/") => Kind::Proxy,
            _ => Kind::Local,
        }
    }
}

/// A connection on its way to a loop.
pub type Arrival = (std::net::TcpStream, SocketAddr, Kind);

/// Picks the loop for a new connection of `kind`, given each loop's load and gateway
/// connections (see the module's documentation).
fn choose(kind: Kind, loops: impl Iterator<Item = (f64, usize)>) -> usize {
    let mut least = (0, (u32::MAX, usize::MAX));
    for (i, (load, proxies)) in loops.enumerate() {
        let proxies = if kind == Kind::Proxy { proxies } else { 0 };
        if load < BUSY && proxies < PACK {
            return i;
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let key = ((load * 10.0) as u32, proxies);
        if key < least.1 {
            least = (i, key);
        }
    }
    least.0
}

/// Serves one connection to its end (in `secmat serve`: [`crate::front::serve_connection`],
/// which also watches the shutdown signal).
pub type Handler =
    Arc<dyn Fn(TcpStream, SocketAddr) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Serves a connection of `kind` on this loop (whose `gauge` counts it); `done` is dropped when
/// it ends.
fn spawn(
    handler: &Handler,
    (stream, peer, kind): (TcpStream, SocketAddr, Kind),
    gauge: &Arc<LoopGauge>,
    done: watch::Receiver<()>,
) {
    let serving = handler(stream, peer);
    let gauge = gauge.clone();
    tokio::spawn(async move {
        serving.await;
        gauge.leave(kind);
        drop(done);
    });
}

impl LoopGauge {
    fn join(&self, kind: Kind) {
        if kind == Kind::Proxy {
            self.proxies.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn leave(&self, kind: Kind) {
        if kind == Kind::Proxy {
            self.proxies.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Accepts on `listener` until `shutdown`, serving connections on this loop or handing them to
/// the others (`peers[0]` must be this loop's own). Returns once this loop's connections are
/// done; dropping the inboxes tells the other loops that no more connections come.
pub async fn accept(listener: TcpListener, peers: Vec<Peer>, handler: Handler, shutdown: Shutdown) {
    let (done_tx, done_rx) = watch::channel(());
    let peers = Arc::new(peers);
    let stop = shutdown.wait();
    tokio::pin!(stop);
    loop {
        let (stream, peer_addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: say so, breathe, go on.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        tokio::spawn(place(
            stream,
            peer_addr,
            peers.clone(),
            handler.clone(),
            done_rx.clone(),
        ));
    }
    drop(peers);
    drop(listener);
    drop(done_rx);
    done_tx.closed().await;
}

/// Peeks at a new connection's first bytes (for at most [`FIRST_BYTES`]), chooses its loop, and
/// serves it here or hands it over.
async fn place(
    stream: TcpStream,
    peer: SocketAddr,
    peers: Arc<Vec<Peer>>,
    handler: Handler,
    done: watch::Receiver<()>,
) {
    let mut first = [0u8; 24];
    let kind = match tokio::time::timeout(FIRST_BYTES, stream.peek(&mut first)).await {
        Ok(Ok(n)) => Kind::of(&first[..n]),
        _ => Kind::Local,
    };
    let loads = peers
        .iter()
        .map(|p| (p.gauge.load(), p.gauge.proxies.load(Ordering::Relaxed)));
    let Some(chosen) = peers.get(choose(kind, loads)) else {
        return;
    };
    chosen.gauge.join(kind);
    let Some(inbox) = &chosen.inbox else {
        spawn(&handler, (stream, peer, kind), &chosen.gauge, done);
        return;
    };
    // Hand it over: out of this loop's reactor, into the other's.
    let sent = match stream.into_std() {
        Ok(s) => inbox.send((s, peer, kind)).is_ok(),
        Err(e) => {
            tracing::debug!(error = %e, "cannot hand a connection over");
            false
        }
    };
    if !sent {
        chosen.gauge.leave(kind);
    }
}

/// Serves the connections the acceptor sends to this loop, until it sends no more and they are
/// done.
pub async fn run_loop(
    mut inbox: mpsc::UnboundedReceiver<Arrival>,
    handler: Handler,
    gauge: Arc<LoopGauge>,
) {
    let (done_tx, done_rx) = watch::channel(());
    while let Some((stream, peer_addr, kind)) = inbox.recv().await {
        match TcpStream::from_std(stream) {
            Ok(s) => spawn(&handler, (s, peer_addr, kind), &gauge, done_rx.clone()),
            Err(e) => {
                gauge.leave(kind);
                tracing::debug!(error = %e, "cannot take over a connection");
            }
        }
    }
    drop(done_rx);
    done_tx.closed().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_connections_fill_the_first_loop_that_keeps_up() {
        let idle = |loads: &[f64]| choose(Kind::Local, loads.iter().map(|l| (*l, 9)));
        assert_eq!(idle(&[0.0, 0.0]), 0);
        assert_eq!(idle(&[0.49, 0.0]), 0);
        assert_eq!(idle(&[0.9, 0.2, 0.0]), 1);
        assert_eq!(idle(&[0.9, 0.7, 0.8]), 1);
    }

    #[test]
    fn a_burst_of_gateway_connections_fills_a_loop_up_to_pack_then_spreads() {
        let proxy = |loops: &[(f64, usize)]| choose(Kind::Proxy, loops.iter().copied());
        assert_eq!(proxy(&[(0.0, PACK - 1), (0.0, 0)]), 0);
        assert_eq!(proxy(&[(0.0, PACK), (0.0, 0)]), 1);
        // Every loop has its share: the fewest connections among the equally idle.
        assert_eq!(proxy(&[(0.0, PACK), (0.0, PACK)]), 0);
        assert_eq!(proxy(&[(0.0, PACK + 1), (0.05, PACK)]), 1);
        // Load first: a busy loop with few connections is left alone.
        assert_eq!(proxy(&[(0.95, 1), (0.6, 9)]), 1);
        // Other connections keep packing onto the first loop that keeps up.
        assert_eq!(choose(Kind::Local, [(0.1, 9), (0.0, 0)].into_iter()), 0);
    }

    #[test]
    fn a_connection_is_known_by_the_target_of_its_first_request() {
        assert_eq!(Kind::of(b"GET /gateway/ch/x HTTP/1.1"), Kind::Proxy);
        assert_eq!(Kind::of(b"OPTIONS /gateway/"), Kind::Proxy);
        assert_eq!(Kind::of(b"GET /runtime/v1/tokens/x"), Kind::Local);
        assert_eq!(Kind::of(b"GET /gate"), Kind::Local, "too little to tell");
        assert_eq!(Kind::of(b""), Kind::Local);
    }

    #[test]
    fn a_gauge_follows_recent_load_and_forgets_old_load() {
        const MS: u64 = 1_000_000;
        let g = LoopGauge::default();
        assert!(g.at(0) < 0.01);
        g.flip(true, 0);
        assert!(
            g.at(150 * MS) > 0.9,
            "awake for a while: {}",
            g.at(150 * MS)
        );
        g.flip(false, 150 * MS);
        assert!(g.at(150 * MS) > 0.9);
        assert!(
            g.at(300 * MS) < 0.1,
            "asleep for a while: {}",
            g.at(300 * MS)
        );
        // Awake and asleep in equal short spells: about half busy.
        let mut t = 300 * MS;
        for _ in 0..100 {
            g.flip(true, t);
            t += 2 * MS;
            g.flip(false, t);
            t += 2 * MS;
        }
        let half = g.at(t);
        assert!((0.4..0.6).contains(&half), "{half}");
    }

    /// A handler that answers with the name of the thread serving the connection.
    fn thread_namer() -> Handler {
        Arc::new(|mut stream, _| {
            Box::pin(async move {
                use tokio::io::AsyncWriteExt as _;
                let name = std::thread::current().name().unwrap_or("?").to_owned();
                let _ = stream.write_all(name.as_bytes()).await;
            })
        })
    }

    async fn served_by(addr: SocketAddr) -> String {
        use tokio::io::AsyncReadExt as _;
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut name = String::new();
        s.read_to_string(&mut name).await.unwrap();
        name
    }

    #[tokio::test]
    async fn a_busy_loop_hands_new_connections_to_the_next_and_shutdown_ends_both() {
        let (trigger, shutdown) = crate::shutdown::channel();
        let (busy, other) = (
            Arc::new(LoopGauge::default()),
            Arc::new(LoopGauge::default()),
        );
        let (peer, inbox) = peer(other.clone());
        let handler = thread_namer();
        let h = handler.clone();
        let second = std::thread::Builder::new()
            .name("loop-1".into())
            .spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(run_loop(inbox, h, other));
            })
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio::spawn(accept(
            listener,
            vec![own(busy.clone()), peer],
            handler,
            shutdown,
        ));
        let here = std::thread::current().name().unwrap_or("?").to_owned();
        assert_eq!(
            served_by(addr).await,
            here,
            "an idle first loop serves it itself"
        );
        // The first loop has been awake for ever: the next connection goes to the second.
        busy.load.store(1f64.to_bits(), Ordering::Relaxed);
        busy.awake.store(true, Ordering::Relaxed);
        assert_eq!(served_by(addr).await, "loop-1");
        trigger.trigger();
        acceptor.await.unwrap();
        second.join().unwrap();
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "no longer listening"
        );
    }
}
