//! A concurrency limiter: permits, a bounded FIFO wait queue with deadlines, and an adaptive
//! limit.
//!
//! [`Limiter`] admits at most `limit` units of work at once. Work that finds no free permit
//! waits in a FIFO queue until a permit frees up or its deadline passes; when the queue
//! holds [`LimiterConfig::max_waiters`] waiters, further work is rejected at once — that is the
//! backpressure, and it keeps overload from turning into unbounded latency. The limit comes
//! from an [`Algorithm`]: fixed, AIMD, or a latency gradient fed by every release.
//!
//! This module does **not** run the work, read a clock, or wake tasks: it is the bookkeeping
//! a host (the tokio `Limiter` in `perfopt`, a simulation) drives. See [`Limiter`] for the
//! calling contract.

mod algorithm;
mod stats;

use alloc::collections::VecDeque;
use core::fmt;
use core::time::Duration;

pub use algorithm::{AimdConfig, Algorithm, AlgorithmKind, GradientConfig};
pub use stats::{LimitPoint, LimiterStats};

pub use crate::wait::{Rejection, WaiterId};

use crate::Instant;
use crate::stats::{StatsError, Window};
#[cfg(any(test, feature = "validate"))]
use crate::wait::Entry;
use crate::wait::WaitQueue;
use algorithm::{LimitState, Sample};
use stats::Counters;

/// A permit: the right to run one unit of work. Hand it back with [`Limiter::release`].
///
/// A permit granted to a waiter has the waiter's number ([`PermitId::as_u64`] equals
/// [`WaiterId::as_u64`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PermitId(u64);

impl PermitId {
    /// The id as a number, unique among live permits and waiters (for host-side maps).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// What [`Limiter::cancel`] did: [`Cancelled::Released`] names the undelivered permit,
/// released with [`Outcome::Ignored`].
pub type Cancelled = crate::wait::Cancelled<PermitId>;

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
    /// [`Limiter::release_untracked`] with no untracked permit held.
    NoUntrackedPermit,
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
            LimiterError::NoUntrackedPermit => f.write_str("no untracked permit is held"),
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
    pub max_waiters: usize,
    /// How long a caller waits in the queue by default; `None`: as long as it takes (the
    /// queue is still bounded). Default 1 s. The machine takes explicit deadlines; hosts
    /// compute them with [`Limiter::deadline`].
    pub max_wait: Option<Duration>,
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
            max_waiters: 128,
            max_wait: Some(Duration::from_secs(1)),
            stats_window: Duration::from_secs(60),
            stats_slots: 6,
            limit_history: 256,
        }
    }
}

impl LimiterConfig {
    /// The default settings with `algorithm`.
    pub fn new(algorithm: Algorithm) -> LimiterConfig {
        LimiterConfig {
            algorithm,
            ..LimiterConfig::default()
        }
    }

    /// Sets [`max_waiters`](LimiterConfig::max_waiters).
    #[must_use]
    pub fn with_max_waiters(mut self, max_waiters: usize) -> LimiterConfig {
        self.max_waiters = max_waiters;
        self
    }

    /// Sets [`max_wait`](LimiterConfig::max_wait).
    #[must_use]
    pub fn with_max_wait(mut self, max_wait: Option<Duration>) -> LimiterConfig {
        self.max_wait = max_wait;
        self
    }

    /// Sets the statistics window ([`stats_window`](LimiterConfig::stats_window) split into
    /// [`stats_slots`](LimiterConfig::stats_slots)).
    #[must_use]
    pub fn with_stats_window(mut self, window: Duration, slots: usize) -> LimiterConfig {
        self.stats_window = window;
        self.stats_slots = slots;
        self
    }

    /// Checks every setting; the first bad one is named in the error.
    ///
    /// # Errors
    /// As [`Limiter::new`].
    pub fn validate(&self) -> Result<(), LimiterError> {
        LimitState::new(&self.algorithm)?;
        Window::new(self.stats_window, self.stats_slots).map_err(LimiterError::Stats)?;
        if self.limit_history == 0 {
            return Err(LimiterError::ZeroCount("limit_history"));
        }
        if self.max_wait.is_some_and(|d| d.is_zero()) {
            return Err(LimiterError::ZeroDuration("max_wait"));
        }
        Ok(())
    }
}

/// The concurrency limiter state machine. See the [module documentation](self).
///
/// # Calling contract
/// - **Mutating calls** take `now`: [`try_acquire`](Limiter::try_acquire),
///   [`acquire`](Limiter::acquire), [`release`](Limiter::release),
///   [`release_with_latency`](Limiter::release_with_latency), [`cancel`](Limiter::cancel)
///   and [`handle_timeout`](Limiter::handle_timeout). Each settles everything it can at
///   once: a release grants the freed permit to the head waiter in the same call.
/// - **Untimed release**: when [`is_timed`](Limiter::is_timed) is false (a fixed limit),
///   a host may hand a permit back without the clock while nobody waits:
///   [`release_untimed`](Limiter::release_untimed). It adds no latency sample.
/// - **Untracked permits** (a host's lock-free fast path): permits counted in flight that
///   carry no id. A host may admit and release them outside the machine while nobody waits
///   and then report the net effect with [`absorb_untracked`](Limiter::absorb_untracked)
///   before its next call; or admit one with [`admit_untracked`](Limiter::admit_untracked)
///   and release one with [`release_untracked`](Limiter::release_untracked) (which feeds
///   the algorithm, with or without a measured latency). Such a permit's admission is known
///   by the [`epoch`](Limiter::epoch) it was admitted in.
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
/// let mut l = Limiter::new(LimiterConfig::new(Algorithm::Fixed(1)))?;
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
/// assert_eq!((l.in_flight(), l.waiting()), (0, 0));
/// # Ok::<(), perfopt_core::limiter::LimiterError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Limiter {
    algorithm: LimitState,
    /// `algorithm.limit()`, cached.
    limit: u32,
    /// Waiters, and held permits (granted entries: their admission instant).
    waiters: WaitQueue<Instant>,
    /// Held permits (granted entries and untracked ones).
    in_flight: usize,
    /// Held permits without an entry (see [`Limiter::absorb_untracked`]).
    untracked: usize,
    events: VecDeque<LimiterEvent>,
    /// The latest instant seen.
    now: Instant,
    counters: Counters,
    latency: Window,
    wait: Window,
    history: VecDeque<LimitPoint>,
    history_cap: usize,
    max_wait: Option<Duration>,
}

impl Limiter {
    /// A limiter with `config`.
    ///
    /// # Errors
    /// A [`LimiterError`] naming the first invalid setting: a zero limit, unordered
    /// min/initial/max limits, a ratio out of range, a zero duration or count, or a bad
    /// statistics window.
    pub fn new(config: LimiterConfig) -> Result<Limiter, LimiterError> {
        config.validate()?;
        let algorithm = LimitState::new(&config.algorithm)?;
        let latency =
            Window::new(config.stats_window, config.stats_slots).map_err(LimiterError::Stats)?;
        Ok(Limiter {
            limit: algorithm.limit(),
            algorithm,
            waiters: WaitQueue::new(config.max_waiters),
            in_flight: 0,
            untracked: 0,
            events: VecDeque::new(),
            now: Instant::ZERO,
            counters: Counters::default(),
            wait: latency.clone(),
            latency,
            history: VecDeque::new(),
            history_cap: config.limit_history,
            max_wait: config.max_wait,
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
    /// ([`Rejection::WouldWait`]) or the queue is full ([`Rejection::QueueFull`]).
    pub fn acquire(&mut self, now: Instant, deadline: Instant) -> Acquire {
        let now = self.observe(now);
        if let Some(permit) = self.admit(now) {
            return Acquire::Admitted(permit);
        }
        match self.waiters.enqueue(now, deadline) {
            Ok(waiter) => Acquire::Queued(waiter),
            Err(rejection) => {
                self.counters.rejected += 1;
                Acquire::Rejected(rejection)
            }
        }
    }

    /// The deadline of a caller that starts waiting at `now`: `now` +
    /// [`max_wait`](LimiterConfig::max_wait), or [`Instant::MAX`] without one.
    #[inline]
    pub fn deadline(&self, now: Instant) -> Instant {
        self.max_wait
            .map_or(Instant::MAX, |d| now.saturating_add(d))
    }

    /// Whether the algorithm adapts the limit to each permit's admission and release time
    /// (AIMD, Gradient). When it does not (a fixed limit), a host may skip the clock:
    /// [`release_untimed`](Limiter::release_untimed), or untracked permits.
    #[inline]
    pub fn is_timed(&self) -> bool {
        !matches!(self.algorithm, LimitState::Fixed(_))
    }

    /// Hands `permit` back without a latency sample, at the latest instant seen. While
    /// waiters are queued this needs the time (a grant checks their deadlines): it then
    /// returns `Ok(false)` and changes nothing, and the host calls
    /// [`release`](Limiter::release) instead.
    ///
    /// # Errors
    /// As [`release`](Limiter::release).
    #[inline]
    pub fn release_untimed(
        &mut self,
        permit: PermitId,
        outcome: Outcome,
    ) -> Result<bool, LimiterError> {
        if self.waiters.queued() > 0 {
            return Ok(false);
        }
        if self.waiters.remove_granted(permit.0).is_none() {
            return Err(LimiterError::UnknownPermit(permit));
        }
        self.in_flight -= 1;
        // No time, no sample: an adaptive algorithm learns nothing from this permit.
        self.count_outcome(outcome);
        Ok(true)
    }

    /// The algorithm's epoch: it moves on (wrapping) at every AIMD cut and every gradient
    /// probe start, the events that decide whether a later release's permit was "admitted
    /// before". An untracked permit remembers the epoch it was admitted in instead of an
    /// instant (see [`release_untracked`](Limiter::release_untracked)). Always 0 for a
    /// fixed limit.
    #[inline]
    pub fn epoch(&self) -> u32 {
        self.algorithm.epoch().0
    }

    /// An untracked permit (no id) if one is free and nobody waits, counted like any
    /// admission; `false` otherwise (then call [`acquire`](Limiter::acquire)). Not counted
    /// as a rejection. Hand it back with [`release_untracked`](Limiter::release_untracked).
    #[inline]
    pub fn admit_untracked(&mut self) -> bool {
        if self.waiters.queued() > 0 || self.in_flight >= self.limit as usize {
            return false;
        }
        self.in_flight += 1;
        self.untracked += 1;
        self.counters.admitted += 1;
        self.counters.peak_in_flight = self.counters.peak_in_flight.max(self.in_flight);
        true
    }

    /// Takes in what a host's lock-free fast path did since the machine last saw it: it
    /// admitted untracked permits and released `succeeded` of them with
    /// [`Outcome::Success`], and now `in_flight` permits are held in all (tracked ones
    /// included); at most `peak_in_flight` were held at once meanwhile. The admissions are
    /// `in_flight + succeeded - in_flight()`. The releases are *quiet* ones (see
    /// [`quiet_below`](Limiter::quiet_below)): unmeasured, admitted in the current epoch,
    /// each made while fewer than `quiet_below()` permits were held; the algorithm takes
    /// them in as it would have one by one, to the same decisions.
    ///
    /// The host keeps the fast path within the rules `admit_untracked` follows (nobody
    /// waits, at most `limit` held); inconsistent numbers saturate rather than panic.
    pub fn absorb_untracked(&mut self, in_flight: usize, succeeded: u64, peak_in_flight: usize) {
        // A fast path running while someone waits would leave that waiter without a grant.
        debug_assert!(
            self.waiters.queued() == 0 || (in_flight <= self.in_flight && succeeded == 0),
            "untracked permits moved while {} waited",
            self.waiters.queued()
        );
        let admitted = (in_flight as u64 + succeeded).saturating_sub(self.in_flight as u64);
        self.untracked = (self.untracked + in_flight).saturating_sub(self.in_flight);
        self.in_flight = in_flight;
        let c = &mut self.counters;
        c.admitted += admitted;
        c.succeeded += succeeded;
        c.peak_in_flight = c.peak_in_flight.max(peak_in_flight).max(in_flight);
        self.algorithm.on_quiet(succeeded, self.now);
    }

    /// Up to how many permits held a release may be *quiet*: an unmeasured
    /// [`Outcome::Success`] of an untracked permit admitted in the current
    /// [`epoch`](Limiter::epoch), made while nobody waits and while fewer than this many
    /// permits are held (itself included), leads the algorithm to no decision now, so a
    /// host may count such releases without the machine and hand them over later with
    /// [`absorb_untracked`](Limiter::absorb_untracked). `usize::MAX` under a fixed limit;
    /// under AIMD the smallest count at which a success raises the limit (half the limit,
    /// rounded up); under Gradient the same, or 0 while the next release would start a
    /// probe or close an interval. It changes only with the machine's other state.
    pub fn quiet_below(&self) -> usize {
        self.algorithm.quiet_below(self.now)
    }

    /// Hands back one untracked permit admitted in `epoch` (see
    /// [`epoch`](Limiter::epoch)), at `now` (`None`: the latest instant seen). `latency`
    /// is its measured latency, if the host measured it: the algorithm sees the release
    /// with its outcome either way, and its latency only when measured (a gradient interval
    /// needs `min_samples` measured releases; AIMD checks `latency_threshold` on measured
    /// ones). A freed permit goes to the head waiter at once; pass the time while waiters
    /// are queued, so that their deadlines are checked against it.
    ///
    /// # Errors
    /// [`LimiterError::NoUntrackedPermit`] if none is held; nothing changes then.
    pub fn release_untracked(
        &mut self,
        now: Option<Instant>,
        outcome: Outcome,
        latency: Option<Duration>,
        epoch: u32,
    ) -> Result<(), LimiterError> {
        if self.untracked == 0 {
            return Err(LimiterError::NoUntrackedPermit);
        }
        self.untracked -= 1;
        let now = match now {
            Some(now) => self.observe(now),
            None => self.now,
        };
        // Admitted in the current epoch: at or after its start; else before it.
        let (current, start) = self.algorithm.epoch();
        let admitted = if epoch == current {
            start
        } else {
            Instant::ZERO
        };
        self.count_outcome(outcome);
        self.finish_release(now, admitted, outcome, latency);
        Ok(())
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
        let cancelled = match self.waiters.cancel(waiter.0) {
            Some(crate::wait::Cancelled::Dequeued) => Cancelled::Dequeued,
            Some(_) => {
                let permit = PermitId(waiter.0);
                self.release_inner(now, permit, Outcome::Ignored, None)?;
                Cancelled::Released(permit)
            }
            None => return Err(LimiterError::UnknownWaiter(waiter)),
        };
        self.counters.cancelled += 1;
        Ok(cancelled)
    }

    /// Times out every waiter whose deadline is at or before `now`
    /// ([`LimiterEvent::TimedOut`]). Harmless when nothing is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.observe(now);
        let (counters, events) = (&mut self.counters, &mut self.events);
        self.waiters
            .expire(now, |waiter, _| time_out(counters, events, waiter));
    }

    /// The next event for a waiter, oldest first.
    pub fn poll_event(&mut self) -> Option<LimiterEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Limiter::handle_timeout) must next be called: the earliest
    /// waiter deadline, or `None` if no waiter has one.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.waiters.next_deadline()
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
    pub fn waiting(&self) -> usize {
        self.waiters.queued()
    }

    /// Statistics as of `now` (windows cover the last [`LimiterConfig::stats_window`]).
    pub fn stats(&self, now: Instant) -> LimiterStats {
        let now = now.max(self.now);
        LimiterStats {
            algorithm: self.algorithm.kind(),
            limit: self.limit,
            in_flight: self.in_flight,
            waiting: self.waiters.queued(),
            max_waiters: self.waiters.max_waiters(),
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

    /// Checks every invariant; panics naming the broken one. Test support (the `validate`
    /// feature), not API.
    #[cfg(any(test, feature = "validate"))]
    #[doc(hidden)]
    pub fn validate(&self) {
        self.waiters.validate();
        let held = self
            .waiters
            .iter()
            .filter(|(_, e)| matches!(e, Entry::Granted(_)))
            .count();
        assert_eq!(
            held + self.untracked,
            self.in_flight,
            "permits not conserved"
        );
        assert!(
            self.waiters.queued() == 0 || self.in_flight >= self.limit as usize,
            "a waiter waits while a permit is free"
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
    #[inline]
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

    /// Issues a permit admitted at `now` if one is free and nobody waits.
    #[inline]
    fn admit(&mut self, now: Instant) -> Option<PermitId> {
        if self.waiters.queued() > 0 || self.in_flight >= self.limit as usize {
            return None;
        }
        self.in_flight += 1;
        self.counters.admitted += 1;
        self.counters.peak_in_flight = self.counters.peak_in_flight.max(self.in_flight);
        Some(PermitId(self.waiters.insert_granted(now)))
    }

    fn count_outcome(&mut self, outcome: Outcome) {
        let c = &mut self.counters;
        match outcome {
            Outcome::Success => c.succeeded += 1,
            Outcome::Dropped => c.dropped += 1,
            Outcome::Timeout => c.deadline_exceeded += 1,
            Outcome::Ignored => c.ignored += 1,
        }
    }

    fn release_inner(
        &mut self,
        now: Instant,
        permit: PermitId,
        outcome: Outcome,
        latency: Option<Duration>,
    ) -> Result<(), LimiterError> {
        let now = self.observe(now);
        let Some(admitted) = self.waiters.remove_granted(permit.0) else {
            return Err(LimiterError::UnknownPermit(permit));
        };
        let latency = latency.unwrap_or_else(|| now.saturating_duration_since(admitted));
        self.count_outcome(outcome);
        self.finish_release(now, admitted, outcome, Some(latency));
        Ok(())
    }

    /// The rest of a release, once the permit left its entry and its outcome was counted
    /// (an untracked release counts here): the algorithm's sample, the latency window, the
    /// limit, and grants to waiters. `outcome` is what the algorithm sees.
    fn finish_release(
        &mut self,
        now: Instant,
        admitted: Instant,
        outcome: Outcome,
        latency: Option<Duration>,
    ) {
        let sample = Sample {
            now,
            admitted,
            latency,
            outcome,
            in_flight: self.in_flight,
        };
        self.in_flight -= 1;
        if let Some(latency) = latency
            && !matches!(outcome, Outcome::Ignored)
        {
            self.latency.record(now, nanos(latency));
        }
        self.algorithm.on_sample(&sample);
        self.refresh_limit(now);
        self.dispatch(now);
    }

    /// Re-reads the algorithm's limit and records a change in the history.
    fn refresh_limit(&mut self, now: Instant) {
        let limit = self.algorithm.limit();
        if limit != self.limit {
            // The starting point first, when no instant was seen before (unmeasured
            // untracked releases carry none).
            if self.history.is_empty() {
                self.history
                    .push_back(LimitPoint::new(self.now, self.limit));
            }
            self.limit = limit;
            if self.history.len() == self.history_cap {
                self.history.pop_front();
            }
            self.history.push_back(LimitPoint::new(now, limit));
        }
    }

    /// Grants free permits to waiters in FIFO order; waiters past their deadline time out.
    fn dispatch(&mut self, now: Instant) {
        while self.waiters.queued() > 0 && self.in_flight < self.limit as usize {
            let (counters, events) = (&mut self.counters, &mut self.events);
            if self
                .waiters
                .head(now, |waiter, _| time_out(counters, events, waiter))
                .is_none()
            {
                break;
            }
            let Some((waiter, enqueued)) = self.waiters.grant_head(now) else {
                break;
            };
            self.in_flight += 1;
            let c = &mut self.counters;
            c.peak_in_flight = c.peak_in_flight.max(self.in_flight);
            c.admitted += 1;
            c.admitted_after_wait += 1;
            self.wait
                .record(now, nanos(now.saturating_duration_since(enqueued)));
            self.events.push_back(LimiterEvent::Granted {
                waiter,
                permit: PermitId(waiter.0),
            });
        }
    }
}

/// Counts and reports a waiter whose deadline passed.
fn time_out(counters: &mut Counters, events: &mut VecDeque<LimiterEvent>, waiter: WaiterId) {
    counters.timed_out += 1;
    events.push_back(LimiterEvent::TimedOut { waiter });
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
