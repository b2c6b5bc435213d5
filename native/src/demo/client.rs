//! Simulated chat users: real TCP clients on loopback that log in, join a room and send
//! messages at a set rate, each mentioning another user (`@id`, drawn from a skewed
//! distribution so some users are popular). Each client measures the delivery latency of its
//! own messages (sent → received back as `MSG`) and reports it to the monitor.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{Barrier, watch};

use crate::clock;
use crate::monitor::MonitorHandle;

/// What the clients did, for the summary.
#[derive(Debug, Default)]
pub struct ClientStats {
    /// Messages sent.
    pub sent: AtomicU64,
    /// Own messages received back.
    pub echoed: AtomicU64,
    /// `ERR` replies received.
    pub errors: AtomicU64,
    /// Messages never echoed within the timeout.
    pub lost: AtomicU64,
    /// Clients that could not connect or log in.
    pub failed_clients: AtomicU64,
    /// Login commands retried after `ERR busy`.
    pub retries: AtomicU64,
    /// Delivery latency of every echoed message, µs (kept whether or not the monitor
    /// records, so instrumented and bare runs compare on the same measure).
    pub latency_us: Mutex<perfopt_core::stats::Histogram>,
}

/// How one client behaves.
#[derive(Clone, Debug)]
pub struct ClientPlan {
    /// Server address.
    pub addr: SocketAddr,
    /// This client's user id.
    pub user: u32,
    /// Room to join.
    pub room: String,
    /// Messages per second.
    pub rate: f64,
    /// When to stop sending.
    pub stop_at: perfopt_core::Instant,
    /// Users that can be mentioned (1..=users).
    pub users: u32,
    /// Seed for this client's choices.
    pub seed: u64,
    /// Report latencies and errors to the monitor (off to measure the instrumentation's cost).
    pub record: bool,
    /// Send the next message as soon as the previous one came back, ignoring `rate`.
    pub closed_loop: bool,
    /// When the client may say goodbye (after the run stopped measuring).
    pub phases: Phases,
}

/// Keeps a run's measurement and its teardown apart: every client reports that it stopped
/// sending and got its last echoes ([`Phases::drained`]); the run then stops measuring and
/// only then lets the clients quit and disconnect (`Phases::quit`), so a thousand
/// disconnects do not land in the last measured intervals.
#[derive(Clone, Debug)]
pub struct Phases {
    drained: Arc<Barrier>,
    quit: watch::Receiver<bool>,
}

impl Phases {
    /// Phases for `clients` clients, and the sender that lets them quit.
    pub fn new(clients: usize) -> (Phases, watch::Sender<bool>) {
        let (tx, quit) = watch::channel(false);
        let drained = Arc::new(Barrier::new(clients + 1));
        (Phases { drained, quit }, tx)
    }

    /// Waits until every client has drained (the run calls this once, as the last party).
    pub async fn drained(&self) {
        self.drained.wait().await;
    }

    async fn quit(&self) {
        let _ = self.quit.clone().wait_for(|q| *q).await;
    }
}

/// A message not echoed within this is counted lost (and as a failed request).
const ECHO_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs one client to its stop time, then waits (bounded) for its last echoes.
pub async fn run(plan: ClientPlan, monitor: MonitorHandle, stats: Arc<ClientStats>) {
    if let Err(_e) = run_inner(&plan, &monitor, &stats).await {
        // Failed before draining (login or sending): still one party of the barrier.
        stats.failed_clients.fetch_add(1, Ordering::Relaxed);
        plan.phases.drained().await;
    }
}

async fn run_inner(
    plan: &ClientPlan,
    monitor: &MonitorHandle,
    stats: &Arc<ClientStats>,
) -> std::io::Result<()> {
    let stream = TcpStream::connect(plan.addr).await?;
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    // Log in and join; a server shedding load answers `ERR busy`: back off and retry.
    for (command, expect) in [
        (format!("HELLO {}\n", plan.user), "WELCOME"),
        (format!("JOIN {}\n", plan.room), "JOINED"),
    ] {
        let mut backoff = Duration::from_millis(50);
        loop {
            write.write_all(command.as_bytes()).await?;
            let line = tokio::time::timeout(ECHO_TIMEOUT, lines.next_line())
                .await
                .map_err(|_| std::io::Error::other("login timed out"))??
                .ok_or_else(|| std::io::Error::other("server closed"))?;
            if line.starts_with(expect) {
                break;
            }
            if !line.starts_with("ERR busy") || backoff > Duration::from_secs(2) {
                return Err(std::io::Error::other(format!(
                    "expected {expect}, got {line}"
                )));
            }
            stats.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
    let pending: Arc<Mutex<HashMap<u64, perfopt_core::Instant>>> = Arc::default();
    let echoed = Arc::new(tokio::sync::Notify::new());
    let reader = {
        let pending = pending.clone();
        let monitor = monitor.clone();
        let stats = stats.clone();
        let echoed = echoed.clone();
        let record = plan.record;
        let me = plan.user;
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.strip_prefix("MSG ") {
                    let mut parts = rest.splitn(4, ' ');
                    let (_room, user, stamp) = (parts.next(), parts.next(), parts.next());
                    let mine = user.and_then(|u| u.parse::<u32>().ok()) == Some(me);
                    if let (true, Some(stamp)) = (mine, stamp.and_then(|s| s.parse::<u64>().ok())) {
                        let sent = pending
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .remove(&stamp);
                        if let Some(sent) = sent {
                            let latency = clock::now().saturating_duration_since(sent);
                            if record {
                                monitor.record_request(latency, true);
                            }
                            let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                            stats
                                .latency_us
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .record(us);
                            stats.echoed.fetch_add(1, Ordering::Relaxed);
                            echoed.notify_one();
                        }
                    }
                } else if line.starts_with("ERR ") {
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                    if record {
                        monitor.record_request(Duration::ZERO, false);
                    }
                    echoed.notify_one();
                } else if line == "BYE" {
                    break;
                }
            }
        })
    };
    let mut rng = SplitMix(plan.seed);
    let gap = Duration::from_secs_f64(1.0 / plan.rate.max(0.001));
    // Start at a random phase so clients do not send in lockstep.
    let mut next = clock::now().saturating_add(gap.mul_f64(rng.unit()));
    let mut stamp = 0u64;
    while next < plan.stop_at {
        if plan.closed_loop {
            next = clock::now();
        } else {
            tokio::time::sleep_until(clock::to_std(next).into()).await;
        }
        stamp += 1;
        let mention = rng.skewed(plan.users);
        let now = clock::now();
        pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(stamp, now);
        let line = format!("SAY {} {stamp} hello @{mention} how are you?\n", plan.room);
        write.write_all(line.as_bytes()).await?;
        stats.sent.fetch_add(1, Ordering::Relaxed);
        next = next.saturating_add(gap);
        if plan.closed_loop {
            // Wait for the echo (or an error) before the next message; bounded.
            let _ = tokio::time::timeout(ECHO_TIMEOUT, echoed.notified()).await;
            next = clock::now();
        }
        expire(&pending, monitor, stats, now, plan.record);
    }
    // Let the last echoes arrive (bounded), then say goodbye. Woken by each echo rather than
    // polling: a thousand clients polling every 20 ms kept the CPU busy in the very last
    // measured intervals.
    let deadline = clock::now().saturating_add(ECHO_TIMEOUT);
    let until = tokio::time::Instant::from_std(clock::to_std(deadline));
    while !pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .is_empty()
        && clock::now() < deadline
    {
        let _ = tokio::time::timeout_at(until, echoed.notified()).await;
    }
    expire(
        &pending,
        monitor,
        stats,
        clock::now().saturating_add(ECHO_TIMEOUT),
        plan.record,
    );
    // Nothing below may fail with `?`: this client has passed the barrier.
    plan.phases.drained().await;
    plan.phases.quit().await;
    let _ = write.write_all(b"QUIT\n").await;
    let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
    Ok(())
}

/// Counts messages older than the echo timeout as lost (failed requests).
fn expire(
    pending: &Mutex<HashMap<u64, perfopt_core::Instant>>,
    monitor: &MonitorHandle,
    stats: &ClientStats,
    now: perfopt_core::Instant,
    record: bool,
) {
    let mut p = pending.lock().unwrap_or_else(PoisonError::into_inner);
    let before = p.len();
    p.retain(|_, sent| now.saturating_duration_since(*sent) < ECHO_TIMEOUT);
    for _ in p.len()..before {
        stats.lost.fetch_add(1, Ordering::Relaxed);
        if record {
            monitor.record_request(ECHO_TIMEOUT, false);
        }
    }
}

/// A tiny seeded generator (SplitMix64): the demo must not depend on a dev-only RNG.
#[derive(Clone, Debug)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A user id in 1..=n, skewed towards small ids (log-uniform: popular users are few).
    pub fn skewed(&mut self, n: u32) -> u32 {
        let n = f64::from(n.max(1));
        let x = (n + 1.0).powf(self.unit());
        (x.floor() as u32).clamp(1, n as u32)
    }
}
