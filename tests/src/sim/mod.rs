//! Deterministic overload simulation: a server of fixed capacity behind a concurrency
//! limiter, in virtual time.
//!
//! The **server** has `workers` parallel workers and an unbounded FIFO queue in front of
//! them; each request needs a service time drawn uniformly from `[0.5 S, 1.5 S)` (mean `S`),
//! so its capacity is `workers / S` requests per second and its latency grows with its
//! queue. The server is naive: it works on every request it accepted, even one whose client
//! already gave up — the way real servers collapse under overload.
//!
//! **Requests** arrive as a Poisson process at `load × capacity` per second. Each has a
//! deadline `D` after its arrival; it counts toward **goodput** only if it finishes by then.
//!
//! A **strategy** sits in front of the server: unbounded queueing (no limiter), or a
//! [`perfopt_core::limiter::Limiter`] with a fixed, AIMD or gradient limit. A limited request
//! asks for a permit, waiting at most until its deadline in the limiter's bounded queue; the
//! permit is released when the server finishes the request, with [`Outcome::Success`] or,
//! past the deadline, [`Outcome::Timeout`].
//!
//! Everything runs on a virtual clock driven by an event heap, with a seeded generator: the
//! same [`Scenario`] gives the same numbers on every machine, and nothing sleeps. Arrivals
//! and service times depend only on the seed and the load, so every strategy faces the same
//! requests.

mod rng;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::time::Duration;

use perfopt_core::Instant;
use perfopt_core::limiter::{
    Acquire, AimdConfig, Algorithm, GradientConfig, Limiter, LimiterConfig, LimiterEvent, Outcome,
    PermitId, WaiterId,
};

pub use rng::SimRng;

/// The simulated system and how long to watch it.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Parallel workers of the server (`C`).
    pub workers: usize,
    /// Mean service time (`S`).
    pub service: Duration,
    /// Each request's deadline after its arrival (`D`).
    pub deadline: Duration,
    /// Most requests waiting in a limiter's queue.
    pub max_queue: usize,
    /// Simulated time per run.
    pub duration: Duration,
    /// Leading part of each run left out of the measurements (limits converge).
    pub warmup: Duration,
    /// Seed of arrivals and service times.
    pub seed: u64,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            workers: 16,
            service: Duration::from_millis(10),
            deadline: Duration::from_millis(100),
            max_queue: 8,
            duration: Duration::from_secs(8),
            warmup: Duration::from_secs(2),
            seed: 0x5EED,
        }
    }
}

impl Scenario {
    /// Requests per second the server completes when always busy.
    pub fn capacity_rps(&self) -> f64 {
        self.workers as f64 / self.service.as_secs_f64()
    }
}

/// What stands in front of the server.
#[derive(Clone, Debug)]
pub enum Strategy {
    /// No limiter: every request joins the server's queue.
    Unbounded,
    /// A limiter with this algorithm.
    Limited(Algorithm),
}

/// The four strategies compared: unbounded queueing, a fixed limit equal to the worker
/// count (an oracle that knows the capacity), AIMD told that three mean service times is
/// too slow, and the gradient algorithm told nothing about the server.
pub fn strategies(s: &Scenario) -> Vec<(&'static str, Strategy)> {
    let mut aimd = AimdConfig::default();
    aimd.initial_limit = 4;
    aimd.min_limit = 1;
    aimd.max_limit = 1000;
    aimd.latency_threshold = Some(s.service * 3);
    let mut gradient = GradientConfig::default();
    gradient.initial_limit = 4;
    gradient.min_limit = 4;
    gradient.max_limit = 1000;
    gradient.probe_interval = Duration::from_secs(5);
    let fixed = u32::try_from(s.workers).unwrap_or(u32::MAX);
    vec![
        ("unbounded", Strategy::Unbounded),
        ("fixed", Strategy::Limited(Algorithm::Fixed(fixed))),
        ("aimd", Strategy::Limited(Algorithm::Aimd(aimd))),
        ("gradient", Strategy::Limited(Algorithm::Gradient(gradient))),
    ]
}

/// The measurements of one run (requests that arrived after the warm-up).
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    /// Strategy name.
    pub strategy: &'static str,
    /// Offered load as a multiple of capacity.
    pub load: f64,
    /// Requests offered per second.
    pub offered_rps: f64,
    /// Requests finished within their deadline, per second.
    pub goodput_rps: f64,
    /// `goodput_rps` as a share of capacity.
    pub goodput_share: f64,
    /// Median latency of finished requests (arrival to completion), ms.
    pub p50_ms: f64,
    /// 99th percentile latency of finished requests, ms.
    pub p99_ms: f64,
    /// Share of offered requests refused at once by the limiter.
    pub rejected_share: f64,
    /// Share of offered requests that timed out in the limiter's queue.
    pub queue_timeout_share: f64,
    /// Mean limit seen by arrivals (0 for unbounded).
    pub mean_limit: f64,
}

/// Runs `strategy` at `load × capacity` for the scenario's duration.
///
/// # Panics
/// If the limiter configuration is invalid or the limiter misbehaves (an unknown permit).
pub fn run(scenario: &Scenario, name: &'static str, strategy: &Strategy, load: f64) -> RunResult {
    let limiter = match strategy {
        Strategy::Unbounded => None,
        Strategy::Limited(algorithm) => {
            let mut config = LimiterConfig::new(algorithm.clone());
            config.max_waiters = scenario.max_queue;
            Some(Limiter::new(config).expect("valid limiter config"))
        }
    };
    let mut sim = Sim::new(scenario, limiter, load);
    sim.run();
    sim.result(name, load)
}

/// Formats results as a Markdown table.
pub fn table(results: &[RunResult]) -> String {
    let mut out = String::from(
        "| load | strategy  | offered/s | goodput/s | goodput % cap | p50 ms | p99 ms | rejected % | queue timeouts % | mean limit |\n\
         |-----:|-----------|----------:|----------:|--------------:|-------:|-------:|-----------:|-----------------:|-----------:|\n",
    );
    for r in results {
        let _ = writeln!(
            out,
            "| {:.1}× | {:<9} | {:>9.0} | {:>9.0} | {:>13.1} | {:>6.1} | {:>6.1} | {:>10.1} | {:>16.1} | {:>10.1} |",
            r.load,
            r.strategy,
            r.offered_rps,
            r.goodput_rps,
            r.goodput_share * 100.0,
            r.p50_ms,
            r.p99_ms,
            r.rejected_share * 100.0,
            r.queue_timeout_share * 100.0,
            r.mean_limit,
        );
    }
    out
}

/// What happens next in virtual time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Arrival,
    ServiceDone(usize),
    LimiterTimer,
}

#[derive(Clone, Copy, Debug)]
struct Request {
    arrival: Instant,
    service: Duration,
    permit: Option<PermitId>,
}

struct Sim<'a> {
    s: &'a Scenario,
    rng: SimRng,
    mean_gap_s: f64,
    now: Instant,
    end: Instant,
    warm: Instant,
    heap: BinaryHeap<Reverse<(Instant, u64, Event)>>,
    seq: u64,
    requests: Vec<Request>,
    busy: usize,
    server_queue: VecDeque<usize>,
    limiter: Option<Limiter>,
    waiting: HashMap<WaiterId, usize>,
    armed: Option<Instant>,
    // Measurements over requests that arrived after the warm-up.
    offered: u64,
    good: u64,
    rejected: u64,
    queue_timeouts: u64,
    latencies: Vec<u64>,
    limit_sum: f64,
}

impl<'a> Sim<'a> {
    fn new(s: &'a Scenario, limiter: Option<Limiter>, load: f64) -> Sim<'a> {
        let seed = s.seed ^ (load * 1000.0) as u64;
        Sim {
            s,
            rng: SimRng::new(seed),
            mean_gap_s: 1.0 / (load * s.capacity_rps()),
            now: Instant::ZERO,
            end: Instant::ZERO.saturating_add(s.duration),
            warm: Instant::ZERO.saturating_add(s.warmup),
            heap: BinaryHeap::new(),
            seq: 0,
            requests: Vec::new(),
            busy: 0,
            server_queue: VecDeque::new(),
            limiter,
            waiting: HashMap::new(),
            armed: None,
            offered: 0,
            good: 0,
            rejected: 0,
            queue_timeouts: 0,
            latencies: Vec::new(),
            limit_sum: 0.0,
        }
    }

    fn schedule(&mut self, at: Instant, ev: Event) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, ev)));
    }

    fn run(&mut self) {
        self.schedule(Instant::ZERO, Event::Arrival);
        // Requests in service at the end still finish (they may count), new ones stop.
        while let Some(Reverse((at, _, ev))) = self.heap.pop() {
            self.now = at;
            match ev {
                Event::Arrival => self.arrive(),
                Event::ServiceDone(id) => self.finish(id),
                Event::LimiterTimer => {
                    if self.armed == Some(at) {
                        self.armed = None;
                    }
                    if let Some(l) = self.limiter.as_mut() {
                        l.handle_timeout(at);
                    }
                    self.drain_limiter();
                }
            }
            if self.now > self.end.saturating_add(self.s.deadline) {
                break;
            }
        }
    }

    fn arrive(&mut self) {
        let now = self.now;
        let gap = Duration::from_secs_f64(self.rng.exp(self.mean_gap_s));
        let service = self.s.service.mul_f64(0.5 + self.rng.unit());
        let next = now.saturating_add(gap);
        if next < self.end {
            self.schedule(next, Event::Arrival);
        }
        let id = self.requests.len();
        self.requests.push(Request {
            arrival: now,
            service,
            permit: None,
        });
        let measured = now >= self.warm;
        if measured {
            self.offered += 1;
        }
        let deadline = now.saturating_add(self.s.deadline);
        let Some(l) = self.limiter.as_mut() else {
            self.submit(id);
            return;
        };
        if measured {
            self.limit_sum += f64::from(l.limit());
        }
        match l.acquire(now, deadline) {
            Acquire::Admitted(p) => {
                self.requests[id].permit = Some(p);
                self.submit(id);
            }
            Acquire::Queued(w) => {
                self.waiting.insert(w, id);
            }
            Acquire::Rejected(_) => {
                if measured {
                    self.rejected += 1;
                }
            }
            other => panic!("unknown acquire answer {other:?}"),
        }
        self.drain_limiter();
    }

    /// The server accepts a request: a free worker starts it, or it queues.
    fn submit(&mut self, id: usize) {
        if self.busy < self.s.workers {
            self.busy += 1;
            let done = self.now.saturating_add(self.requests[id].service);
            self.schedule(done, Event::ServiceDone(id));
        } else {
            self.server_queue.push_back(id);
        }
    }

    fn finish(&mut self, id: usize) {
        let now = self.now;
        let r = self.requests[id];
        let in_time = now.saturating_duration_since(r.arrival) <= self.s.deadline;
        if r.arrival >= self.warm && r.arrival < self.end {
            self.latencies
                .push(now.saturating_duration_since(r.arrival).as_nanos() as u64);
            if in_time {
                self.good += 1;
            }
        }
        self.busy -= 1;
        if let Some(next) = self.server_queue.pop_front() {
            self.submit(next);
        }
        if let (Some(l), Some(p)) = (self.limiter.as_mut(), r.permit) {
            let outcome = if in_time {
                Outcome::Success
            } else {
                Outcome::Timeout
            };
            l.release(now, p, outcome).expect("held permit");
            self.drain_limiter();
        }
    }

    /// Delivers grants and timeouts, then arms the limiter's timer.
    fn drain_limiter(&mut self) {
        let Some(l) = self.limiter.as_mut() else {
            return;
        };
        let mut granted = Vec::new();
        while let Some(ev) = l.poll_event() {
            match ev {
                LimiterEvent::Granted { waiter, permit } => {
                    let id = self.waiting.remove(&waiter).expect("known waiter");
                    granted.push((id, permit));
                }
                LimiterEvent::TimedOut { waiter } => {
                    let id = self.waiting.remove(&waiter).expect("known waiter");
                    if self.requests[id].arrival >= self.warm {
                        self.queue_timeouts += 1;
                    }
                }
                other => panic!("unknown limiter event {other:?}"),
            }
        }
        let next_timer = l.poll_timeout();
        for (id, permit) in granted {
            self.requests[id].permit = Some(permit);
            self.submit(id);
        }
        if let Some(t) = next_timer
            && self.armed.is_none_or(|a| t < a)
        {
            self.armed = Some(t);
            self.schedule(t, Event::LimiterTimer);
        }
    }

    fn result(&mut self, strategy: &'static str, load: f64) -> RunResult {
        let window = (self.s.duration - self.s.warmup).as_secs_f64();
        self.latencies.sort_unstable();
        let pct = |q: f64| -> f64 {
            if self.latencies.is_empty() {
                return 0.0;
            }
            let i =
                ((self.latencies.len() as f64 * q).ceil() as usize).clamp(1, self.latencies.len());
            self.latencies[i - 1] as f64 / 1e6
        };
        let offered = self.offered.max(1) as f64;
        RunResult {
            strategy,
            load,
            offered_rps: self.offered as f64 / window,
            goodput_rps: self.good as f64 / window,
            goodput_share: self.good as f64 / window / self.s.capacity_rps(),
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
            rejected_share: self.rejected as f64 / offered,
            queue_timeout_share: self.queue_timeouts as f64 / offered,
            mean_limit: self.limit_sum / offered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_light_load_is_served_in_about_the_service_time() {
        let s = Scenario {
            duration: Duration::from_secs(3),
            warmup: Duration::from_secs(1),
            ..Scenario::default()
        };
        let r = run(&s, "unbounded", &Strategy::Unbounded, 0.3);
        assert!((r.goodput_rps / r.offered_rps - 1.0).abs() < 0.01, "{r:?}");
        assert!(r.p50_ms > 8.0 && r.p50_ms < 12.0, "{r:?}");
        assert!(r.p99_ms < 16.0, "{r:?}");
    }
}
