//! A concurrency limiter: permits, a bounded FIFO wait queue with deadlines, and an adaptive
//! limit.
//!
//! [`Limiter`] admits at most `limit` units of work at once. Work that finds no free permit
//! waits in a FIFO queue until a permit frees up or its deadline passes; when the queue
//! holds [`LimiterConfig::max_queue`] waiters, further work is rejected at once — that is the
//! backpressure, and it keeps overload from turning into unbounded latency. The limit comes
//! from an [`Algorithm`]: fixed, AIMD, or a latency gradient fed by every release.
//!
//! This module does **not** run the work, read a clock, or wake tasks: it is the bookkeeping
//! a host (the tokio `Limiter` in `perfopt`, a simulation) drives. See [`Limiter`] for the
//! calling contract.

mod algorithm;
pub(crate) mod slab;
mod stats;

use alloc::collections::{BTreeSet, VecDeque};
use core::fmt;
use core::time::Duration;

pub use algorithm::{AimdConfig, Algorithm, AlgorithmKind, GradientConfig};
pub use stats::{LimitPoint, LimiterStats};

use crate::Instant;
use crate::stats::{StatsError, Window};
use algorithm::{LimitState, Sample};
use slab::Slab;
use stats::Counters;

/// A permit: the right to run one unit of work. Hand it back with [`Limiter::release`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PermitId(u64);

/// A waiter in the queue. A permit granted to it has the same number
/// ([`PermitId::as_u64`] equals [`WaiterId::as_u64`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WaiterId(u64);

impl PermitId {
    /// The id as a number, unique among live permits and waiters (for host-side maps).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl WaiterId {
    /// The id as a number, unique among live permits and waiters (for host-side maps).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// How a unit of work ended; tells the algorithm what its latency means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// It succeeded: its latency is a sample of the service's speed.
    Success,
    /// It was shed or refused because something downstream was overloaded (an HTTP 503, a
    /// refused connection): a congestion signal.
    Dropped,
    /// It overran its deadline: a congestion signal.
    Timeout,
    /// No signal: it was cancelled or failed for a reason unrelated to load. Only frees the
    /// permit.
    Ignored,
}

/// The answer to [`Limiter::acquire`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub enum Acquire {
    /// A permit was free: run the work now.
    Admitted(PermitId),
    /// Queued: wait for [`LimiterEvent::Granted`] or [`LimiterEvent::TimedOut`] with this id.
    Queued(WaiterId),
    /// Refused at once.
    Rejected(Rejection),
}

/// Why an acquisition was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// The wait queue is full: the system is overloaded (backpressure).
    QueueFull,
    /// No permit was free and the caller would not wait (its deadline had passed, or it
    /// used [`Limiter::try_acquire`]).
    NoPermit,
}

/// What [`Limiter::cancel`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cancelled {
    /// The waiter was still queued; it left the queue.
    Dequeued,
    /// The waiter had been granted this permit, which the host had not delivered; it was
    /// released with [`Outcome::Ignored`].
    Released(PermitId),
}

/// Something the host must deliver to a waiter; drained with [`Limiter::poll_event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimiterEvent {
    /// The waiter now holds `permit` (already counted in flight): wake it. If it can no
    /// longer take the permit (its future was dropped), call [`Limiter::cancel`] or
    /// [`Limiter::release`] so the permit is not leaked.
    Granted {
        /// Who waited.
        waiter: WaiterId,
        /// The permit it now holds.
        permit: PermitId,
    },
    /// The waiter's deadline passed before a permit was free; it left the queue.
    TimedOut {
        /// Who waited.
        waiter: WaiterId,
    },
}

/// Why a limiter could not be built, or a call named an unknown permit or waiter.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum LimiterError {
    /// A fixed limit or a `min_limit` is zero: no work could ever run.
    ZeroLimit,
    /// The limits are not ordered `min_limit <= initial_limit <= max_limit`.
    LimitOrder {
        /// `min_limit`.
        min: u32,
        /// `initial_limit`.
        initial: u32,
        /// `max_limit`.
        max: u32,
    },
    /// A ratio setting is out of its range (named, with the value given).
    BadRatio {
        /// The setting's field name.
        setting: &'static str,
        /// The value given.
        value: f64,
    },
    /// A duration setting (named) is zero.
    ZeroDuration(&'static str),
    /// A count setting (named) is zero.
    ZeroCount(&'static str),
    /// The statistics window is invalid.
    Stats(StatsError),
    /// The permit is not held: released twice, or never issued by this limiter.
    UnknownPermit(PermitId),
    /// The waiter is neither queued nor holding an undelivered grant.
    UnknownWaiter(WaiterId),
}

impl fmt::Display for LimiterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimiterError::ZeroLimit => f.write_str("the limit (or min_limit) must be at least 1"),
            LimiterError::LimitOrder { min, initial, max } => write!(
                f,
                "limits must satisfy min_limit <= initial_limit <= max_limit \
                 (got {min}, {initial}, {max})"
            ),
            LimiterError::BadRatio { setting, value } => {
                write!(f, "{setting} = {value} is out of range")
            }
            LimiterError::ZeroDuration(s) => write!(f, "{s} must be longer than zero"),
            LimiterError::ZeroCount(s) => write!(f, "{s} must be at least 1"),
            LimiterError::Stats(e) => write!(f, "statistics window: {e}"),
            LimiterError::UnknownPermit(p) => write!(f, "permit {} is not held", p.0),
            LimiterError::UnknownWaiter(w) => write!(f, "waiter {} is unknown", w.0),
        }
    }
}

impl core::error::Error for LimiterError {}

/// Settings of a [`Limiter`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct LimiterConfig {
    /// How the limit is chosen. Default: [`Algorithm::Gradient`] with default settings.
    pub algorithm: Algorithm,
    /// Most waiters queued at once; more are rejected. `0`: never queue. Default 128.
    pub max_queue: usize,
    /// Span of the latency and wait-time windows in [`LimiterStats`]. Default 60 s.
    pub stats_window: Duration,
    /// Slots of those windows. Default 6.
    pub stats_slots: usize,
    /// Most points kept of the limit's history (oldest dropped first). Default 256.
    pub limit_history: usize,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        LimiterConfig {
            algorithm: Algorithm::Gradient(GradientConfig::default()),
            max_queue: 128,
            stats_window: Duration::from_secs(60),
            stats_slots: 6,
            limit_history: 256,
        }
    }
}

impl LimiterConfig {
    /// The default settings with `algorithm`.
    pub fn with_algorithm(algorithm: Algorithm) -> LimiterConfig {
        LimiterConfig {
            algorithm,
            ..LimiterConfig::default()
        }
    }
}

/// One ticket: a queued waiter, or a held permit (same id).
#[derive(Clone, Copy, Debug)]
enum Ticket {
    Waiting {
        enqueued: Instant,
        deadline: Instant,
    },
    Held {
        admitted: Instant,
    },
}

/// The concurrency limiter state machine. See the [module documentation](self).
///
/// # Calling contract
/// - **Mutating calls** take `now`: [`try_acquire`](Limiter::try_acquire),
///   [`acquire`](Limiter::acquire), [`release`](Limiter::release),
///   [`release_with_latency`](Limiter::release_with_latency), [`cancel`](Limiter::cancel)
///   and [`handle_timeout`](Limiter::handle_timeout). Each settles everything it can at
///   once: a release grants the freed permit to the head waiter in the same call.
/// - **Draining**: after any mutating call, drain [`poll_event`](Limiter::poll_event) until
///   `None` and deliver each [`LimiterEvent`] to its waiter. A granted permit is already in
///   flight, so an undelivered grant must be handed back with [`cancel`](Limiter::cancel) —
///   that is how a dropped `acquire` future never leaks a permit.
/// - **Timers**: [`poll_timeout`](Limiter::poll_timeout) is the earliest waiter deadline;
///   call [`handle_timeout`](Limiter::handle_timeout) once the clock reaches it. A late or
///   spurious call is harmless; a waiter whose deadline passed is never granted, even if
///   `handle_timeout` was not called yet.
/// - **Time** never goes back between calls; if it does, the limiter uses the latest
///   instant it has seen. Nothing panics on a stale id: it is an error.
///
/// # Example
/// ```
/// use perfopt_core::Instant;
/// use perfopt_core::limiter::{
///     Acquire, Algorithm, Limiter, LimiterConfig, LimiterEvent, Outcome,
/// };
///
/// let mut l = Limiter::new(LimiterConfig::with_algorithm(Algorithm::Fixed(1)))?;
/// let t0 = Instant::from_millis(0);
/// let Acquire::Admitted(first) = l.acquire(t0, Instant::from_millis(100)) else { panic!() };
/// let Acquire::Queued(waiter) = l.acquire(t0, Instant::from_millis(100)) else { panic!() };
/// assert_eq!(l.poll_timeout(), Some(Instant::from_millis(100)));
///
/// // Releasing the first permit grants it to the waiter in the same call.
/// l.release(Instant::from_millis(10), first, Outcome::Success)?;
/// let Some(LimiterEvent::Granted { waiter: w, permit }) = l.poll_event() else { panic!() };
/// assert_eq!(w, waiter);
/// l.release(Instant::from_millis(20), permit, Outcome::Success)?;
/// assert_eq!((l.in_flight(), l.queued()), (0, 0));
/// # Ok::<(), perfopt_core::limiter::LimiterError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Limiter {
    algorithm: LimitState,
    /// `algorithm.limit()`, cached.
    limit: u32,
    max_queue: usize,
    tickets: Slab<Ticket>,
    /// FIFO of waiter keys; keys no longer `Waiting` are stale and skipped.
    queue: VecDeque<u64>,
    /// Live waiters (the non-stale part of `queue`).
    queued: usize,
    /// Held permits.
    in_flight: usize,
    /// `(deadline, key)` of every waiter with a finite deadline.
    deadlines: BTreeSet<(Instant, u64)>,
    events: VecDeque<LimiterEvent>,
    /// The latest instant seen.
    now: Instant,
    counters: Counters,
    latency: Window,
    wait: Window,
    history: VecDeque<LimitPoint>,
    history_cap: usize,
}

impl Limiter {
    /// A limiter with `config`.
    ///
    /// # Errors
    /// A [`LimiterError`] naming the first invalid setting: a zero limit, unordered
    /// min/initial/max limits, a ratio out of range, a zero duration or count, or a bad
    /// statistics window.
    pub fn new(config: LimiterConfig) -> Result<Limiter, LimiterError> {
        let algorithm = LimitState::new(&config.algorithm)?;
        let latency =
            Window::new(config.stats_window, config.stats_slots).map_err(LimiterError::Stats)?;
        if config.limit_history == 0 {
            return Err(LimiterError::ZeroCount("limit_history"));
        }
        Ok(Limiter {
            limit: algorithm.limit(),
            algorithm,
            max_queue: config.max_queue,
            tickets: Slab::new(),
            queue: VecDeque::new(),
            queued: 0,
            in_flight: 0,
            deadlines: BTreeSet::new(),
            events: VecDeque::new(),
            now: Instant::ZERO,
            counters: Counters::default(),
            wait: latency.clone(),
            latency,
            history: VecDeque::new(),
            history_cap: config.limit_history,
        })
    }

    /// A permit if one is free and nobody is queued ahead; never queues.
    ///
    /// A refusal counts as rejected in the statistics.
    pub fn try_acquire(&mut self, now: Instant) -> Option<PermitId> {
        match self.acquire(now, Instant::ZERO) {
            Acquire::Admitted(p) => Some(p),
            _ => None,
        }
    }

    /// Asks for a permit, waiting until `deadline` at the latest ([`Instant::MAX`]: no
    /// deadline).
    ///
    /// Admits at once if a permit is free and no one waits ahead (FIFO: newcomers never
    /// overtake waiters). Otherwise queues the caller, unless `deadline` has passed
    /// ([`Rejection::NoPermit`]) or the queue is full ([`Rejection::QueueFull`]).
    pub fn acquire(&mut self, now: Instant, deadline: Instant) -> Acquire {
        let now = self.observe(now);
        if self.queued == 0 && self.in_flight < self.limit as usize {
            self.counters.admitted += 1;
            return Acquire::Admitted(PermitId(self.admit(now)));
        }
        let rejection = if deadline <= now {
            Rejection::NoPermit
        } else if self.queued >= self.max_queue {
            Rejection::QueueFull
        } else {
            let key = self.tickets.insert(Ticket::Waiting {
                enqueued: now,
                deadline,
            });
            self.queue.push_back(key);
            self.queued += 1;
            if deadline < Instant::MAX {
                self.deadlines.insert((deadline, key));
            }
            return Acquire::Queued(WaiterId(key));
        };
        self.counters.rejected += 1;
        Acquire::Rejected(rejection)
    }

    /// Hands `permit` back; its latency (from admission to `now`) and `outcome` feed the
    /// algorithm. A freed permit goes to the head waiter at once.
    ///
    /// # Errors
    /// [`LimiterError::UnknownPermit`] if the permit is not held (released twice, or not
    /// from this limiter); nothing changes then.
    pub fn release(
        &mut self,
        now: Instant,
        permit: PermitId,
        outcome: Outcome,
    ) -> Result<(), LimiterError> {
        self.release_inner(now, permit, outcome, None)
    }

    /// As [`release`](Limiter::release), with the latency the host measured itself (for
    /// example the service time alone).
    ///
    /// # Errors
    /// As [`release`](Limiter::release).
    pub fn release_with_latency(
        &mut self,
        now: Instant,
        permit: PermitId,
        outcome: Outcome,
        latency: Duration,
    ) -> Result<(), LimiterError> {
        self.release_inner(now, permit, outcome, Some(latency))
    }

    /// The host gave up on `waiter` (its future was dropped). A queued waiter leaves the
    /// queue; a waiter already granted a permit the host had not delivered has that permit
    /// released. Either way nothing leaks.
    ///
    /// Call this only for a grant the host did not deliver: a delivered permit is released
    /// with [`release`](Limiter::release).
    ///
    /// # Errors
    /// [`LimiterError::UnknownWaiter`] if the waiter is neither queued nor holding (it timed
    /// out, was cancelled, or its permit was released); nothing changes then.
    pub fn cancel(&mut self, now: Instant, waiter: WaiterId) -> Result<Cancelled, LimiterError> {
        let now = self.observe(now);
        match self.tickets.get(waiter.0) {
            Some(Ticket::Waiting { deadline, .. }) => {
                let deadline = *deadline;
                self.tickets.remove(waiter.0);
                self.deadlines.remove(&(deadline, waiter.0));
                self.queued -= 1;
                self.counters.cancelled += 1;
                self.compact_queue();
                Ok(Cancelled::Dequeued)
            }
            Some(Ticket::Held { .. }) => {
                let permit = PermitId(waiter.0);
                self.release_inner(now, permit, Outcome::Ignored, None)?;
                self.counters.cancelled += 1;
                Ok(Cancelled::Released(permit))
            }
            None => Err(LimiterError::UnknownWaiter(waiter)),
        }
    }

    /// Times out every waiter whose deadline is at or before `now`
    /// ([`LimiterEvent::TimedOut`]). Harmless when nothing is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.observe(now);
        while let Some(&(deadline, key)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            self.time_out(key);
        }
        self.compact_queue();
    }

    /// The next event for a waiter, oldest first.
    pub fn poll_event(&mut self) -> Option<LimiterEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Limiter::handle_timeout) must next be called: the earliest
    /// waiter deadline, or `None` if no waiter has one.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(deadline, _)| deadline)
    }

    /// The current limit.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Permits held (including grants not yet delivered).
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Waiters queued.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Statistics as of `now` (windows cover the last [`LimiterConfig::stats_window`]).
    pub fn stats(&self, now: Instant) -> LimiterStats {
        let now = now.max(self.now);
        LimiterStats {
            algorithm: self.algorithm.kind(),
            limit: self.limit,
            in_flight: self.in_flight,
            queued: self.queued,
            max_queue: self.max_queue,
            admitted: self.counters.admitted,
            admitted_after_wait: self.counters.admitted_after_wait,
            rejected: self.counters.rejected,
            timed_out: self.counters.timed_out,
            cancelled: self.counters.cancelled,
            succeeded: self.counters.succeeded,
            dropped: self.counters.dropped,
            deadline_exceeded: self.counters.deadline_exceeded,
            ignored: self.counters.ignored,
            peak_in_flight: self.counters.peak_in_flight,
            baseline_ms: self.algorithm.baseline().map(|b| b.as_secs_f64() * 1e3),
            latency_ms: self.latency.summary(now, 1e6),
            wait_ms: self.wait.summary(now, 1e6),
            limit_history: self.history.iter().copied().collect(),
        }
    }

    /// Checks every invariant; panics naming the broken one. Test support, not API.
    #[doc(hidden)]
    pub fn validate(&self) {
        self.tickets.validate();
        let (mut held, mut waiting) = (0, 0);
        for (key, ticket) in self.tickets.iter() {
            match ticket {
                Ticket::Held { .. } => held += 1,
                Ticket::Waiting { deadline, .. } => {
                    waiting += 1;
                    assert_eq!(
                        self.deadlines.contains(&(*deadline, key)),
                        *deadline < Instant::MAX,
                        "waiter {key} missing from the deadline index"
                    );
                    assert_eq!(
                        self.queue.iter().filter(|&&k| k == key).count(),
                        1,
                        "waiter {key} not queued exactly once"
                    );
                }
            }
        }
        assert_eq!(held, self.in_flight, "permits not conserved");
        assert_eq!(waiting, self.queued, "waiters not conserved");
        assert!(self.queued <= self.max_queue, "queue above its bound");
        assert!(
            self.queued == 0 || self.in_flight >= self.limit as usize,
            "a waiter waits while a permit is free"
        );
        assert_eq!(
            self.deadlines.len(),
            self.tickets
                .iter()
                .filter(|(_, t)| matches!(t, Ticket::Waiting { deadline, .. } if *deadline < Instant::MAX))
                .count(),
            "stale deadline entries"
        );
        assert_eq!(self.limit, self.algorithm.limit(), "cached limit stale");
        assert!(self.limit >= 1);
        assert!(self.history.len() <= self.history_cap);
        let c = &self.counters;
        let released = c.succeeded + c.dropped + c.deadline_exceeded + c.ignored;
        assert_eq!(
            c.admitted,
            released + self.in_flight as u64,
            "admissions != releases + in flight"
        );
    }

    /// Records `now` as the latest instant and returns the instant to use.
    fn observe(&mut self, now: Instant) -> Instant {
        if now > self.now {
            self.now = now;
        }
        if self.history.is_empty() {
            self.history
                .push_back(LimitPoint::new(self.now, self.limit));
        }
        self.now
    }

    /// Issues a permit (the caller checked there is room) and returns its key.
    fn admit(&mut self, now: Instant) -> u64 {
        self.in_flight += 1;
        self.counters.peak_in_flight = self.counters.peak_in_flight.max(self.in_flight);
        self.tickets.insert(Ticket::Held { admitted: now })
    }

    fn release_inner(
        &mut self,
        now: Instant,
        permit: PermitId,
        outcome: Outcome,
        latency: Option<Duration>,
    ) -> Result<(), LimiterError> {
        let now = self.observe(now);
        let Some(&Ticket::Held { admitted }) = self.tickets.get(permit.0) else {
            return Err(LimiterError::UnknownPermit(permit));
        };
        self.tickets.remove(permit.0);
        let latency = latency.unwrap_or_else(|| now.saturating_duration_since(admitted));
        let sample = Sample {
            now,
            admitted,
            latency,
            outcome,
            in_flight: self.in_flight,
        };
        self.in_flight -= 1;
        match outcome {
            Outcome::Success => self.counters.succeeded += 1,
            Outcome::Dropped => self.counters.dropped += 1,
            Outcome::Timeout => self.counters.deadline_exceeded += 1,
            Outcome::Ignored => self.counters.ignored += 1,
        }
        if !matches!(outcome, Outcome::Ignored) {
            self.latency.record(now, nanos(latency));
        }
        self.algorithm.on_sample(&sample);
        self.refresh_limit(now);
        self.dispatch(now);
        Ok(())
    }

    /// Re-reads the algorithm's limit and records a change in the history.
    fn refresh_limit(&mut self, now: Instant) {
        let limit = self.algorithm.limit();
        if limit != self.limit {
            self.limit = limit;
            if self.history.len() == self.history_cap {
                self.history.pop_front();
            }
            self.history.push_back(LimitPoint::new(now, limit));
        }
    }

    /// Grants free permits to waiters in FIFO order; waiters past their deadline time out.
    fn dispatch(&mut self, now: Instant) {
        while self.queued > 0 && self.in_flight < self.limit as usize {
            let Some(key) = self.queue.pop_front() else {
                break;
            };
            let Some(&Ticket::Waiting { enqueued, deadline }) = self.tickets.get(key) else {
                continue; // stale: cancelled or timed out earlier
            };
            if deadline <= now {
                self.deadlines.remove(&(deadline, key));
                self.push_timeout(key);
                continue;
            }
            self.deadlines.remove(&(deadline, key));
            self.queued -= 1;
            self.in_flight += 1;
            self.counters.peak_in_flight = self.counters.peak_in_flight.max(self.in_flight);
            self.counters.admitted += 1;
            self.counters.admitted_after_wait += 1;
            if let Some(t) = self.tickets.get_mut(key) {
                *t = Ticket::Held { admitted: now };
            }
            self.wait
                .record(now, nanos(now.saturating_duration_since(enqueued)));
            self.events.push_back(LimiterEvent::Granted {
                waiter: WaiterId(key),
                permit: PermitId(key),
            });
        }
    }

    /// Times out waiter `key` if it is still waiting (its deadline entry is already gone).
    fn time_out(&mut self, key: u64) {
        if matches!(self.tickets.get(key), Some(Ticket::Waiting { .. })) {
            self.push_timeout(key);
        }
    }

    /// Removes waiting ticket `key` and emits its timeout.
    fn push_timeout(&mut self, key: u64) {
        self.tickets.remove(key);
        self.queued -= 1;
        self.counters.timed_out += 1;
        self.events.push_back(LimiterEvent::TimedOut {
            waiter: WaiterId(key),
        });
    }

    /// Drops stale keys once they outnumber live waiters, so the queue stays O(waiters).
    fn compact_queue(&mut self) {
        if self.queue.len() > 2 * self.queued + 32 {
            let tickets = &self.tickets;
            self.queue
                .retain(|&k| matches!(tickets.get(k), Some(Ticket::Waiting { .. })));
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
