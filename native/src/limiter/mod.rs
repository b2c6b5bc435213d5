//! A concurrency limiter for async work: the tokio host of [`perfopt_core::limiter`].
//!
//! [`Limiter::run`] admits a future when a permit is free, queues it (FIFO, bounded, with a
//! wait deadline) when none is, and rejects it at once when the queue is full — the
//! backpressure that keeps overload from turning into unbounded latency. The limit is fixed
//! or adapts to observed latency and drops ([`Algorithm`]); [`Limiter::stats`] returns the
//! core statistics for the report's `components.limiter`.
//!
//! This module holds no policy: every decision (admit, queue, reject, grant, time out, the
//! limit itself) is core's. The host is a `Mutex` around the core machine driven through
//! `crate::driver` (the queued caller's future, the timer task). It does not retry, shed
//! by priority or time the work out unless asked ([`Limiter::run_timeout`]).
//!
//! # The fast path
//! While nobody waits, a permit is taken with one compare-and-swap on an atomic word (the
//! permits held and the limit), without the lock: the same decision the core machine would
//! make. It is handed back with success the same way when the release is *quiet*: under a
//! fixed limit always; under an adaptive algorithm when the permit was not measured, was
//! admitted in the current epoch and fewer than half the limit are held (the algorithm
//! would decide nothing on it: core's `quiet_below`). Any other release (another outcome,
//! a measured permit, one the algorithm must decide on), a caller that finds no permit
//! free and everything while callers wait go through the lock and the core machine, which
//! first takes in what the fast path did (see `fast.rs`). Statistics stay exact.
//!
//! # Clock reads
//! A permit under a fixed limit reads no clock unless it has to wait. Under an adaptive
//! algorithm a *measured* permit reads [`clock::now`] at admission and at release, and
//! its latency is the algorithm's latency sample (and `latency_ms`'s); the others read no
//! clock unless they end with a congestion signal ([`Outcome::Dropped`],
//! [`Outcome::Timeout`]), and the algorithm still sees each release with its outcome.
//!
//! Which permits are measured is deterministic: after every `n` releases the next permit
//! admitted is measured, where `n` is chosen at each measured release from the time per
//! release since the previous one: as many releases as take [`SAMPLE_GAP`], between 1 and
//! [`SAMPLE_MAX`]. Below 100,000 releases a second every permit is measured, exactly as
//! without sampling; above, about one permit per [`SAMPLE_GAP`] (at least one in
//! [`SAMPLE_MAX`]), so a gradient interval's `min_samples` measured releases still come
//! within a fraction of a millisecond. Between measured permits the rate is re-estimated
//! after 1, 2, 4 and every 8 releases, so when releases slow down after a burst every
//! permit is measured again within 8 releases.
//! AIMD's `latency_threshold` applies to the measured permits.
//!
//! # Cancellation
//! Dropping any future of this module at any point never leaks a permit: a queued caller
//! leaves the queue, a permit granted but not yet delivered is handed back with the core's
//! `cancel`, and a permit held by a [`run`](Limiter::run) whose future is dropped is released
//! as [`Outcome::Dropped`] (a caller that gives up on in-flight work is usually a caller that
//! found it too slow: a congestion signal for the adaptive algorithms).
//!
//! # Example
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use perfopt::limiter::{Algorithm, Limiter, LimiterConfig};
//!
//! let limiter = Limiter::new(LimiterConfig::new(Algorithm::Fixed(2))).expect("valid settings");
//! let answer = limiter.run(async { 6 * 7 }).await.expect("admitted");
//! assert_eq!(answer, 42);
//! let all = limiter.run_all((0..5).map(|i| async move { i * 2 })).await;
//! assert_eq!(all.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [0, 2, 4, 6, 8]);
//! assert_eq!(limiter.stats().admitted, 6);
//! # }
//! ```

mod fast;

use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::StreamExt;
use perfopt_core::Instant;
use perfopt_core::limiter::{self as core, Acquire, LimiterEvent, PermitId};
use perfopt_core::wait::{Rejection, WaiterId};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

pub use perfopt_core::limiter::{
    AimdConfig, Algorithm, AlgorithmKind, GradientConfig, LimiterConfig, LimiterStats, Outcome,
};

use crate::clock;
use crate::driver::{
    self, Host, IdMap, Mutex, MutexGuard, Timed, Timer, Wait, WakeList, arm, lock,
};
use fast::{COUNT_MAX, EPOCH_MAX, Fast, Release, Start, Word, full_epoch};

/// Under an adaptive algorithm, at most about one permit per this span has its latency
/// measured (see [Clock reads](self#clock-reads)): every permit below 100,000 a second.
pub const SAMPLE_GAP: Duration = Duration::from_micros(10);

/// Under an adaptive algorithm, at least one permit in this many has its latency measured.
pub const SAMPLE_MAX: u32 = 64;

/// Why a permit was not acquired, or work run through the limiter did not finish.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum AcquireError {
    /// A setting is invalid; the core error names it.
    Config(core::LimiterError),
    /// The wait queue was full: the system is overloaded (backpressure). Nothing ran.
    QueueFull,
    /// No permit was free and the call would not wait ([`Limiter::try_acquire`],
    /// [`Limiter::try_run`]). Nothing ran.
    WouldWait,
    /// The caller waited `waited` (its wait deadline) without getting a permit. Nothing
    /// ran.
    TimedOut {
        /// How long it waited.
        waited: Duration,
    },
    /// The deadline of [`Limiter::run_timeout`] passed, while waiting or while running (the
    /// work was then dropped).
    Elapsed {
        /// The timeout given.
        timeout: Duration,
    },
    /// A caller had to wait outside a tokio runtime, where no timer can enforce its deadline.
    NoRuntime,
}

impl AcquireError {
    /// Whether the limiter shed the call at once (queue full, or nothing free for a call
    /// that would not wait): the caller may retry later.
    pub fn is_rejection(&self) -> bool {
        matches!(self, AcquireError::QueueFull | AcquireError::WouldWait)
    }

    /// Whether a deadline passed (waiting, or waiting and running).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            AcquireError::TimedOut { .. } | AcquireError::Elapsed { .. }
        )
    }
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcquireError::Config(e) => write!(f, "invalid limiter setting: {e}"),
            AcquireError::QueueFull => f.write_str("rejected: the limiter's wait queue is full"),
            AcquireError::WouldWait => f.write_str("rejected: no permit is free"),
            AcquireError::TimedOut { waited } => {
                write!(f, "no permit within max_wait ({waited:?})")
            }
            AcquireError::Elapsed { timeout } => write!(f, "timed out after {timeout:?}"),
            AcquireError::NoRuntime => {
                f.write_str("a limiter wait needs a tokio runtime with the time driver")
            }
        }
    }
}

impl std::error::Error for AcquireError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AcquireError::Config(e) => Some(e),
            _ => None,
        }
    }
}

impl From<Rejection> for AcquireError {
    fn from(r: Rejection) -> AcquireError {
        match r {
            Rejection::QueueFull => AcquireError::QueueFull,
            _ => AcquireError::WouldWait,
        }
    }
}

/// A concurrency limiter. Cheap to clone (clones share the limit, queue and statistics).
///
/// Futures of this type must be polled inside a tokio runtime with the time driver enabled
/// when they may wait (a caller that finds a permit free never touches the runtime).
#[derive(Clone)]
pub struct Limiter {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// The lock-free fast path in front of `state`.
    fast: Fast,
    /// Whether the fast path may run (off only in tests comparing it with the locked path).
    fast_enabled: bool,
    /// The algorithm adapts the limit to latencies and outcomes: only quiet releases go
    /// fast, and permits are sampled for their latency.
    timed: bool,
    max_waiters: usize,
    timer: Timer,
}

struct State {
    machine: core::Limiter,
    /// One entry per queued caller, until its future has taken the outcome (`Some`: the
    /// permit granted; `None`: timed out).
    waiters: IdMap<Wait<Option<PermitId>>>,
    /// The deadline the timer task sleeps until.
    armed: Option<Instant>,
    /// The timer task, once a caller had to wait.
    timer_task: Option<JoinHandle<()>>,
    /// Adaptive algorithms: the next permit admitted is measured.
    sample_next: bool,
    /// Adaptive algorithms: releases since `sample_next` was last set.
    unsampled: u32,
    /// Adaptive algorithms: a permit is measured after every `sample_every` releases.
    sample_every: u32,
    /// Adaptive algorithms: the latest measured release, and the releases since.
    measured: Option<(Instant, u32)>,
    /// Where the fast path's success count started (see `fast.rs`).
    count_base: u64,
}

impl State {
    /// Whether the release that brings `unsampled` to `next` re-estimates the rate: after
    /// 1, 2, 4 and every 8 releases, before the one that marks a permit to measure.
    fn rate_check(&self, next: u32) -> bool {
        (next.is_power_of_two() || next.is_multiple_of(8)) && next < self.sample_every
    }

    /// How many releases from now may go on the fast path: those before the next one that
    /// re-estimates the rate or marks a permit to measure (see `count_release`).
    fn quiet_budget(&self) -> u32 {
        let mut next = self.unsampled.saturating_add(1);
        while next < self.sample_every && !self.rate_check(next) {
            next += 1;
        }
        next.saturating_sub(self.unsampled + 1)
    }

    /// Counts `n` quiet releases made on the fast path (within [`quiet_budget`]: no rate
    /// check or sample mark falls among them).
    fn count_quiet(&mut self, n: u64) {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        if let Some((_, releases)) = &mut self.measured {
            *releases = releases.saturating_add(n);
        }
        self.unsampled = self.unsampled.saturating_add(n);
        debug_assert!(
            self.unsampled < self.sample_every,
            "a quiet release past the budget"
        );
    }

    /// Counts an adaptive algorithm's release (`measured_at`: when, if it was a measured
    /// permit) and marks the next permit to measure.
    ///
    /// Between measured permits the rate is re-estimated after 1, 2, 4 and every 8 releases
    /// (a read of `clock` each, at most 10 per [`SAMPLE_MAX`] releases), and only ever
    /// lowers the period: when releases slow down after a burst, every permit is measured
    /// again within 8 releases rather than after up to `SAMPLE_MAX - 1`.
    fn count_release(&mut self, measured_at: Option<Instant>, clock: impl FnOnce() -> Instant) {
        let check = self.rate_check(self.unsampled + 1);
        let now = measured_at.or_else(|| check.then(clock));
        if let (Some(now), Some((prev, releases))) = (now, self.measured) {
            // As many releases as take SAMPLE_GAP at the rate since the last measured one.
            let per = now.saturating_duration_since(prev).as_nanos() / u128::from(releases);
            let every = SAMPLE_GAP.as_nanos() / per.max(1);
            let every = u32::try_from(every).map_or(SAMPLE_MAX, |n| n.clamp(1, SAMPLE_MAX));
            self.sample_every = if measured_at.is_some() {
                every
            } else {
                self.sample_every.min(every)
            };
        }
        if let Some(now) = measured_at {
            self.measured = Some((now, 0));
        }
        if let Some((_, releases)) = &mut self.measured {
            *releases += 1;
        }
        self.unsampled += 1;
        if self.unsampled >= self.sample_every {
            self.unsampled = 0;
            self.sample_next = true;
        }
    }
}

/// The locked state with the fast path stopped; restarts it (if nobody waits) when dropped,
/// before the lock is released.
struct Locked<'a> {
    shared: &'a Shared,
    state: MutexGuard<'a, State>,
}

impl Deref for Locked<'_> {
    type Target = State;

    fn deref(&self) -> &State {
        &self.state
    }
}

impl DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.state
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        self.shared.leave(&mut self.state);
    }
}

/// How a [`Permit`] is held.
#[derive(Clone, Copy, Debug)]
enum Held {
    /// A permit with an id (granted to a waiter).
    Tracked(PermitId),
    /// A permit without an id, admitted in the machine's epoch with these low bits; measured
    /// from `since` if sampled.
    Untracked { epoch: u64, since: Option<Instant> },
    /// Released, or handed over to an owned permit.
    Gone,
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared.state);
        f.debug_struct("Limiter")
            .field("limit", &state.machine.limit())
            .field("in_flight", &self.shared.in_flight(&state))
            .field("waiting", &state.machine.waiting())
            .finish()
    }
}

impl Limiter {
    /// A limiter with `config`. Works outside a runtime; the timer task starts with the
    /// first caller that has to wait.
    ///
    /// # Errors
    /// [`AcquireError::Config`] naming the first invalid setting (a zero limit, unordered
    /// limits, a ratio out of range, a zero `max_wait` or other zero duration or count).
    pub fn new(config: LimiterConfig) -> Result<Limiter, AcquireError> {
        Limiter::build(config, true)
    }

    /// A limiter whose every call takes the lock (the fast path off): the reference the
    /// fast path is tested against.
    #[cfg(test)]
    fn locked_only(config: LimiterConfig) -> Limiter {
        Limiter::build(config, false).expect("valid settings")
    }

    fn build(config: LimiterConfig, fast_enabled: bool) -> Result<Limiter, AcquireError> {
        let max_waiters = config.max_waiters;
        let machine = core::Limiter::new(config).map_err(AcquireError::Config)?;
        let shared = Shared {
            timed: machine.is_timed(),
            state: Mutex::new(State {
                machine,
                waiters: IdMap::default(),
                armed: None,
                timer_task: None,
                sample_next: true,
                unsampled: 0,
                sample_every: 1,
                measured: None,
                count_base: 0,
            }),
            fast: Fast::new(),
            fast_enabled,
            max_waiters,
            timer: Timer::new(),
        };
        drop(shared.lock());
        Ok(Limiter {
            shared: Arc::new(shared),
        })
    }

    /// A limiter with a fixed limit and the default queue and wait settings.
    ///
    /// # Errors
    /// [`AcquireError::Config`] if `limit` is zero.
    pub fn fixed(limit: u32) -> Result<Limiter, AcquireError> {
        Limiter::new(LimiterConfig::new(Algorithm::Fixed(limit)))
    }

    /// Runs `fut` once a permit is free, waiting up to `max_wait` in the queue; the permit
    /// is released when `fut` completes, with its latency (admission to completion) and
    /// [`Outcome::Success`]. If this future is dropped while `fut` runs, the permit is
    /// released as [`Outcome::Dropped`].
    ///
    /// # Errors
    /// [`AcquireError::QueueFull`] (rejected at once), [`AcquireError::TimedOut`] (waited
    /// `max_wait`), [`AcquireError::NoRuntime`]. `fut` did not run in any of these cases.
    ///
    /// # Example
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let limiter = perfopt::limiter::Limiter::fixed(4).unwrap();
    /// assert_eq!(limiter.run(async { "done" }).await, Ok("done"));
    /// # }
    /// ```
    pub async fn run<F: Future>(&self, fut: F) -> Result<F::Output, AcquireError> {
        let mut permit = self.acquire().await?;
        permit.outcome = Outcome::Dropped;
        let output = fut.await;
        permit.release(Outcome::Success);
        Ok(output)
    }

    /// Runs `fut` only if a permit is free now; never waits.
    ///
    /// # Errors
    /// [`AcquireError::WouldWait`] if no permit is free or others already wait; `fut` did
    /// not run.
    pub async fn try_run<F: Future>(&self, fut: F) -> Result<F::Output, AcquireError> {
        let mut permit = self.try_acquire()?;
        permit.outcome = Outcome::Dropped;
        let output = fut.await;
        permit.release(Outcome::Success);
        Ok(output)
    }

    /// Runs `fut` with an overall `timeout` covering the wait and the work. Work that overruns
    /// is dropped and its permit released as [`Outcome::Timeout`] (a congestion signal).
    ///
    /// # Errors
    /// [`AcquireError::Elapsed`] if the timeout passed (while waiting or running),
    /// [`AcquireError::Config`] for a zero `timeout`, and the errors of
    /// [`run`](Limiter::run).
    ///
    /// # Example
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// use perfopt::limiter::{AcquireError, Limiter};
    ///
    /// let limiter = Limiter::fixed(1).unwrap();
    /// let slow = limiter.run_timeout(Duration::from_millis(10), async {
    ///     tokio::time::sleep(Duration::from_secs(5)).await;
    /// });
    /// assert!(matches!(slow.await, Err(AcquireError::Elapsed { .. })));
    /// assert_eq!(limiter.in_flight(), 0);
    /// # }
    /// ```
    pub async fn run_timeout<F: Future>(
        &self,
        timeout: Duration,
        fut: F,
    ) -> Result<F::Output, AcquireError> {
        if timeout.is_zero() {
            return Err(AcquireError::Config(core::LimiterError::ZeroDuration(
                "timeout",
            )));
        }
        let overall = clock::now().saturating_add(timeout);
        let mut permit = match self.acquire_until(|d| d.min(overall)).await {
            Err(AcquireError::TimedOut { .. }) if clock::now() >= overall => {
                return Err(AcquireError::Elapsed { timeout });
            }
            other => other?,
        };
        permit.outcome = Outcome::Dropped;
        let at = tokio::time::Instant::from_std(clock::to_std(overall));
        match tokio::time::timeout_at(at, fut).await {
            Ok(output) => {
                permit.release(Outcome::Success);
                Ok(output)
            }
            Err(_) => {
                permit.release(Outcome::Timeout);
                Err(AcquireError::Elapsed { timeout })
            }
        }
    }

    /// Runs every future through the limiter (the seed's `batch_execute`) and returns their
    /// results in input order, each with its own error. At most twice the current limit of
    /// the batch's futures are admitted or queued at once, so a large batch does not fill
    /// the wait queue and reject itself.
    ///
    /// # Example
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let limiter = perfopt::limiter::Limiter::fixed(3).unwrap();
    /// let out = limiter.run_all((1..=4).map(|i| async move { i * i })).await;
    /// assert_eq!(out, vec![Ok(1), Ok(4), Ok(9), Ok(16)]);
    /// # }
    /// ```
    pub async fn run_all<I, F>(&self, futures: I) -> Vec<Result<F::Output, AcquireError>>
    where
        I: IntoIterator<Item = F>,
        F: Future,
    {
        let limit = usize::try_from(self.limit()).unwrap_or(usize::MAX);
        let window = limit
            .saturating_mul(2)
            .min(limit.saturating_add(self.shared.max_waiters))
            .max(1);
        futures_util::stream::iter(futures)
            .map(|fut| self.run(fut))
            .buffered(window)
            .collect()
            .await
    }

    /// Waits for a permit (up to `max_wait`) and returns it; the work runs while the
    /// [`Permit`] is held. Dropping the permit releases it as [`Outcome::Success`];
    /// [`Permit::release`] reports another outcome.
    ///
    /// # Errors
    /// As [`run`](Limiter::run).
    pub async fn acquire(&self) -> Result<Permit<'_>, AcquireError> {
        self.acquire_until(|d| d).await
    }

    /// As [`acquire`](Limiter::acquire), waiting up to `timeout` instead of `max_wait`.
    ///
    /// # Errors
    /// As [`run`](Limiter::run), and [`AcquireError::Config`] for a zero `timeout`.
    pub async fn acquire_timeout(&self, timeout: Duration) -> Result<Permit<'_>, AcquireError> {
        if timeout.is_zero() {
            return Err(AcquireError::Config(core::LimiterError::ZeroDuration(
                "timeout",
            )));
        }
        let at = clock::now().saturating_add(timeout);
        self.acquire_until(|_| at).await
    }

    /// As [`acquire`](Limiter::acquire), with a permit that owns a handle to the limiter:
    /// `'static + Send`, so it can move into `tokio::spawn`.
    ///
    /// # Errors
    /// As [`run`](Limiter::run).
    ///
    /// # Example
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let limiter = perfopt::limiter::Limiter::fixed(1).unwrap();
    /// let permit = limiter.acquire_owned().await.unwrap();
    /// tokio::spawn(async move {
    ///     // ... work while holding the permit ...
    ///     drop(permit);
    /// })
    /// .await
    /// .unwrap();
    /// assert_eq!(limiter.in_flight(), 0);
    /// # }
    /// ```
    pub async fn acquire_owned(&self) -> Result<OwnedPermit, AcquireError> {
        Ok(self.acquire().await?.into_owned())
    }

    /// A permit if one is free now and nobody waits; never waits.
    ///
    /// # Errors
    /// [`AcquireError::WouldWait`].
    pub fn try_acquire(&self) -> Result<Permit<'_>, AcquireError> {
        let shared = &self.shared;
        if let Some(word) = shared.fast.try_acquire() {
            return Ok(Permit::new(shared, shared.admitted_fast(word)));
        }
        let mut state = shared.lock();
        if let Some(held) = shared.admit_locked(&mut state) {
            return Ok(Permit::new(shared, held));
        }
        match state.machine.acquire(clock::now(), Instant::ZERO) {
            Acquire::Admitted(id) => Ok(Permit::new(shared, Held::Tracked(id))),
            Acquire::Rejected(r) => Err(r.into()),
            _ => Err(AcquireError::WouldWait),
        }
    }

    /// The current limit.
    pub fn limit(&self) -> u32 {
        lock(&self.shared.state).machine.limit()
    }

    /// Permits held now.
    pub fn in_flight(&self) -> usize {
        let state = lock(&self.shared.state);
        self.shared.in_flight(&state)
    }

    /// Callers waiting now.
    pub fn waiting(&self) -> usize {
        lock(&self.shared.state).machine.waiting()
    }

    /// The core statistics now (serializes as the report's `components.limiter`).
    pub fn stats(&self) -> LimiterStats {
        let now = clock::now();
        self.shared.lock().machine.stats(now)
    }

    /// Checks the core machine's invariants and that the host tracks exactly the queued
    /// callers; panics naming a broken one. Test support (the `validate` feature), not API.
    #[cfg(any(test, feature = "validate"))]
    #[doc(hidden)]
    pub fn validate(&self) {
        let state = self.shared.lock();
        state.machine.validate();
        driver::assert_waiting(&state.waiters, state.machine.waiting());
    }

    /// Acquires now, waiting until `deadline(max_wait from now)` at the latest.
    async fn acquire_until(
        &self,
        deadline: impl FnOnce(Instant) -> Instant,
    ) -> Result<Permit<'_>, AcquireError> {
        let shared = &self.shared;
        if let Some(word) = shared.fast.try_acquire() {
            return Ok(Permit::new(shared, shared.admitted_fast(word)));
        }
        let (waiter, enqueued) = {
            let mut state = shared.lock();
            if let Some(held) = shared.admit_locked(&mut state) {
                return Ok(Permit::new(shared, held));
            }
            let now = clock::now();
            let deadline = deadline(state.machine.deadline(now));
            match state.machine.acquire(now, deadline) {
                Acquire::Admitted(id) => return Ok(Permit::new(shared, Held::Tracked(id))),
                Acquire::Rejected(r) => return Err(r.into()),
                Acquire::Queued(waiter) => {
                    if let Err(e) = shared.start_timer(&mut state) {
                        // Undo the queueing: nothing may wait without a timer.
                        let _ = state.machine.cancel(now, waiter);
                        return Err(e);
                    }
                    state.waiters.insert(waiter.as_u64(), Wait::Waiting(None));
                    let next = state.machine.poll_timeout();
                    if arm(&mut state.armed, next) {
                        shared.timer.wake();
                    }
                    (waiter, now)
                }
                _ => return Err(AcquireError::WouldWait),
            }
        };
        match driver::wait(shared, waiter).await {
            Some(Some(id)) => Ok(Permit::new(shared, Held::Tracked(id))),
            _ => Err(AcquireError::TimedOut {
                waited: clock::now().saturating_duration_since(enqueued),
            }),
        }
    }
}

impl Shared {
    /// Locks the state and stops the fast path, the machine having taken in what it did;
    /// the fast path runs again (if nobody waits) when the guard is dropped.
    fn lock(&self) -> Locked<'_> {
        let mut state = lock(&self.state);
        self.enter(&mut state);
        Locked {
            shared: self,
            state,
        }
    }

    /// Under the lock: stops the fast path and folds what it did into the machine.
    #[inline]
    fn enter(&self, state: &mut State) {
        if let Some(word) = self.fast.stop() {
            // The successes released fast since `leave` started the count at `count_base`.
            let succeeded = word.count().saturating_sub(state.count_base);
            state
                .machine
                .absorb_untracked(word.in_flight(), succeeded, self.fast.peak());
            if self.timed {
                state.sample_next = word.sample();
                state.count_quiet(succeeded);
            }
        }
    }

    /// Under the lock, after the machine's last change: runs the fast path from the
    /// machine's numbers if nobody waits.
    #[inline]
    fn leave(&self, state: &mut State) {
        if !self.fast_enabled || state.machine.waiting() > 0 {
            return;
        }
        let limit = state.machine.limit();
        let (release, count) = if self.timed {
            // Quiet releases below half the word's (whole) limit are quiet below the
            // machine's threshold too, when it reaches that far. The count runs out before
            // the release that re-estimates the rate or marks the next permit to measure.
            let half = state.machine.quiet_below().saturating_mul(2) >= limit as usize;
            let release = if half { Release::Half } else { Release::Locked };
            (
                release,
                COUNT_MAX.saturating_sub(u64::from(state.quiet_budget())),
            )
        } else {
            (Release::Any, 0)
        };
        state.count_base = count;
        self.fast.start(Start {
            in_flight: state.machine.in_flight(),
            limit,
            epoch: state.machine.epoch(),
            count,
            sample: state.sample_next,
            release,
        });
    }

    /// Permits held, under the lock (the word is the truth while the fast path runs).
    fn in_flight(&self, state: &State) -> usize {
        self.fast
            .load()
            .map_or_else(|| state.machine.in_flight(), Word::in_flight)
    }

    /// The permit taken fast from `word`.
    #[inline]
    fn admitted_fast(&self, word: Word) -> Held {
        if !self.timed {
            return Held::Untracked {
                epoch: 0,
                since: None,
            };
        }
        Held::Untracked {
            epoch: word.epoch(),
            since: word.sample().then(clock::now),
        }
    }

    /// An untracked permit from the machine if one is free and nobody waits, measured if
    /// it is the sampled one.
    fn admit_locked(&self, state: &mut State) -> Option<Held> {
        if !state.machine.admit_untracked() {
            return None;
        }
        let sampled = self.timed && std::mem::take(&mut state.sample_next);
        Some(Held::Untracked {
            epoch: u64::from(state.machine.epoch()) & EPOCH_MAX,
            since: sampled.then(clock::now),
        })
    }

    /// Starts the timer task unless it runs. It is started again if the runtime it ran on
    /// has shut down (a limiter may outlive a runtime and serve the next one).
    fn start_timer(self: &Arc<Self>, state: &mut State) -> Result<(), AcquireError> {
        if state.timer_task.as_ref().is_some_and(|t| !t.is_finished()) {
            return Ok(());
        }
        let runtime = Handle::try_current().map_err(|_| AcquireError::NoRuntime)?;
        let task = self.timer.spawn(&runtime, Arc::downgrade(self));
        state.timer_task = Some(task);
        state.armed = None;
        Ok(())
    }

    /// Delivers the machine's pending events to their waiters (wakers collected in `wake`).
    fn deliver(state: &mut State, wake: &mut WakeList) {
        while let Some(event) = state.machine.poll_event() {
            let (waiter, outcome) = match event {
                LimiterEvent::Granted { waiter, permit } => (waiter, Some(permit)),
                LimiterEvent::TimedOut { waiter } => (waiter, None),
                _ => continue,
            };
            // A grant to a caller that is gone (cannot happen: a dropped caller cancels
            // under this lock) is handed back so the permit is not leaked.
            if driver::deliver(&mut state.waiters, waiter, outcome, wake)
                .is_err_and(|o| o.is_some())
            {
                let _ = state.machine.cancel(clock::now(), waiter);
            }
        }
    }

    fn release(&self, held: Held, outcome: Outcome) {
        match held {
            Held::Untracked { epoch, since } => self.release_untracked(epoch, since, outcome),
            Held::Tracked(id) => self.release_tracked(id, outcome),
            Held::Gone => {}
        }
    }

    #[inline]
    fn release_untracked(&self, epoch: u64, since: Option<Instant>, outcome: Outcome) {
        // A quiet success while nobody waits: one compare-and-swap.
        if since.is_none() && matches!(outcome, Outcome::Success) && self.fast.try_release(epoch) {
            return;
        }
        self.release_untracked_locked(epoch, since, outcome);
    }

    fn release_untracked_locked(&self, epoch: u64, since: Option<Instant>, outcome: Outcome) {
        let mut wake = WakeList::new();
        {
            let mut state = self.lock();
            // The clock for a measured permit, a congestion signal (an adaptive algorithm
            // dates its reaction), or a grant to a waiter (deadlines are checked).
            let signal = self.timed && matches!(outcome, Outcome::Dropped | Outcome::Timeout);
            let dated = since.is_some() || signal || state.machine.waiting() > 0;
            let now = dated.then(clock::now);
            let latency = since.zip(now).map(|(a, n)| n.saturating_duration_since(a));
            let epoch = full_epoch(state.machine.epoch(), epoch);
            // Every untracked permit is released once (the guard is consumed): cannot fail.
            let _ = state
                .machine
                .release_untracked(now, outcome, latency, epoch);
            if self.timed {
                state.count_release(since.and(now), || now.unwrap_or_else(clock::now));
            }
            Shared::deliver(&mut state, &mut wake);
        }
        wake.wake_all();
    }

    fn release_tracked(&self, id: PermitId, outcome: Outcome) {
        let mut wake = WakeList::new();
        {
            let mut state = self.lock();
            // A fixed limit with nobody waiting: no clock, no events.
            if !self.timed {
                match state.machine.release_untimed(id, outcome) {
                    Ok(false) => {}
                    // A permit is released exactly once (the guard is consumed): cannot fail.
                    Ok(true) | Err(_) => return,
                }
            }
            let now = clock::now();
            let _ = state.machine.release(now, id, outcome);
            Shared::deliver(&mut state, &mut wake);
        }
        wake.wake_all();
    }
}

impl Host for Shared {
    type Outcome = Option<PermitId>;
    type State = State;
    type Effects = WakeList;

    fn state(&self) -> &Mutex<State> {
        &self.state
    }

    fn waiters(state: &mut State) -> &mut IdMap<Wait<Option<PermitId>>> {
        &mut state.waiters
    }

    fn effects() -> WakeList {
        WakeList::new()
    }

    fn abandon(
        this: &Arc<Self>,
        state: &mut State,
        waiter: WaiterId,
        outcome: Option<Option<PermitId>>,
        wake: &mut WakeList,
    ) {
        // Still queued (leaves the queue) or granted but not delivered (the permit is
        // released): either way the core's `cancel` settles it. A timeout needs nothing.
        if matches!(outcome, None | Some(Some(_))) {
            this.enter(state);
            let _ = state.machine.cancel(clock::now(), waiter);
            Shared::deliver(state, wake);
            this.leave(state);
        }
    }

    fn apply(_: &Arc<Self>, wake: WakeList) {
        wake.wake_all();
    }
}

impl Timed for Shared {
    fn on_timer(this: &Arc<Self>) -> Option<Instant> {
        let now = clock::now();
        let mut wake = WakeList::new();
        let next = {
            let mut state = this.lock();
            if state.machine.poll_timeout().is_some_and(|t| t <= now) {
                state.machine.handle_timeout(now);
                Shared::deliver(&mut state, &mut wake);
            }
            let next = state.machine.poll_timeout();
            state.armed = next;
            next
        };
        wake.wake_all();
        next
    }
}

/// A held permit. Dropping it releases it with its outcome (by default
/// [`Outcome::Success`]) and, under an adaptive algorithm, the latency since admission
/// when it is a measured one.
///
/// [`Limiter::acquire`] borrows the limiter; [`Limiter::acquire_owned`] gives an
/// [`OwnedPermit`] (`Permit<'static>`), which can move into `tokio::spawn`.
#[must_use = "the permit is released when dropped"]
pub struct Permit<'a> {
    shared: Home<'a>,
    held: Held,
    outcome: Outcome,
}

/// A permit that owns a handle to its limiter: `'static + Send`.
pub type OwnedPermit = Permit<'static>;

/// The permit's way back to its limiter.
enum Home<'a> {
    Borrowed(&'a Arc<Shared>),
    Owned(Arc<Shared>),
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Permit");
        if let Held::Tracked(id) = self.held {
            d.field("id", &id);
        }
        d.field("outcome", &self.outcome).finish()
    }
}

impl<'a> Permit<'a> {
    #[inline]
    fn new(shared: &'a Arc<Shared>, held: Held) -> Permit<'a> {
        Permit {
            shared: Home::Borrowed(shared),
            held,
            outcome: Outcome::Success,
        }
    }

    /// Sets the outcome reported when the permit is dropped.
    pub fn set_outcome(&mut self, outcome: Outcome) {
        self.outcome = outcome;
    }

    /// Releases the permit now with `outcome`.
    pub fn release(mut self, outcome: Outcome) {
        self.outcome = outcome;
        drop(self);
    }

    /// The same permit, owning a handle to its limiter (`'static + Send`).
    pub fn into_owned(mut self) -> OwnedPermit {
        // Handed over, not released: `self` keeps nothing, so its drop does nothing.
        Permit {
            shared: Home::Owned(Arc::clone(self.shared.get())),
            held: std::mem::replace(&mut self.held, Held::Gone),
            outcome: self.outcome,
        }
    }
}

impl Home<'_> {
    #[inline]
    fn get(&self) -> &Arc<Shared> {
        match self {
            Home::Borrowed(s) => s,
            Home::Owned(s) => s,
        }
    }
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        let held = std::mem::replace(&mut self.held, Held::Gone);
        self.shared.get().release(held, self.outcome);
    }
}

/// Reports a [`Limiter`]'s statistics to a [`Monitor`](crate::monitor::Monitor) under
/// `components.<name>`.
///
/// # Example
/// ```no_run
/// # fn f(monitor: &perfopt::monitor::MonitorHandle) {
/// use std::sync::Arc;
/// use perfopt::limiter::{Limiter, LimiterSource};
///
/// let limiter = Limiter::fixed(64).unwrap();
/// monitor.add_component(Arc::new(LimiterSource::new("limiter", limiter.clone())));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct LimiterSource {
    name: &'static str,
    limiter: Limiter,
}

impl LimiterSource {
    /// Reports `limiter` under `components.<name>`.
    pub fn new(name: &'static str, limiter: Limiter) -> LimiterSource {
        LimiterSource { name, limiter }
    }
}

impl crate::monitor::ComponentSource for LimiterSource {
    fn name(&self) -> &'static str {
        self.name
    }

    fn stats(&self) -> serde_json::Value {
        serde_json::to_value(self.limiter.stats()).unwrap_or_default()
    }
}

/// A [`tower_layer::Layer`] that runs every request of the wrapped service through a
/// [`Limiter`] (waiting up to the limiter's `max_wait`).
///
/// The wrapped service answers [`Limited`]: the inner response, or the limiter's refusal
/// as a value, and keeps the inner service's error type. So the layer fits any tower
/// stack, and (with the `server` feature, where `Limited<T>` is an axum `IntoResponse`:
/// refusals become `503` with `Retry-After` or `504`) an axum `Router` takes it as it is,
/// with no `HandleErrorLayer`:
///
/// ```
/// # #[cfg(feature = "server")] {
/// use axum::{Router, routing::get};
/// use perfopt::limiter::{Limiter, LimiterLayer, http_outcome};
///
/// let limiter = Limiter::fixed(64).unwrap();
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .layer(LimiterLayer::new(limiter).classify(http_outcome));
/// # }
/// ```
///
/// Each permit is released with an [`Outcome`]: an `Ok` response as what the classifier
/// says (by default [`Outcome::Success`]; [`http_outcome`] calls a 5xx a congestion
/// signal), an `Err` as [`Outcome::Ignored`], and a response future dropped before it
/// finished as [`Outcome::Dropped`].
#[derive(Clone, Debug)]
pub struct LimiterLayer<C = AllSucceed> {
    limiter: Limiter,
    classify: C,
}

impl LimiterLayer {
    /// A layer sharing `limiter` among every service it wraps.
    pub fn new(limiter: Limiter) -> LimiterLayer {
        LimiterLayer {
            limiter,
            classify: AllSucceed,
        }
    }
}

impl<C> LimiterLayer<C> {
    /// Releases each permit with the [`Outcome`] `classify` gives the inner service's
    /// response (e.g. [`http_outcome`]), so the adaptive algorithms see failures as
    /// congestion.
    pub fn classify<F>(self, classify: F) -> LimiterLayer<F> {
        LimiterLayer {
            limiter: self.limiter,
            classify,
        }
    }
}

impl<S, C: Clone> tower_layer::Layer<S> for LimiterLayer<C> {
    type Service = LimiterService<S, C>;

    fn layer(&self, inner: S) -> LimiterService<S, C> {
        LimiterService {
            inner,
            limiter: self.limiter.clone(),
            classify: self.classify.clone(),
        }
    }
}

/// The default classifier of [`LimiterLayer`]: every `Ok` response is an
/// [`Outcome::Success`].
#[derive(Clone, Copy, Debug, Default)]
pub struct AllSucceed;

/// How a [`LimiterService`] releases the permit of a request that got a response.
pub trait Classify<T> {
    /// The outcome `response` stands for.
    fn outcome(&self, response: &T) -> Outcome;
}

impl<T> Classify<T> for AllSucceed {
    fn outcome(&self, _: &T) -> Outcome {
        Outcome::Success
    }
}

impl<T, F: Fn(&T) -> Outcome> Classify<T> for F {
    fn outcome(&self, response: &T) -> Outcome {
        self(response)
    }
}

/// What a [`LimiterService`] answers: the inner service's response, or the limiter's
/// refusal (queue full, wait timed out, limiter closed).
#[derive(Debug)]
pub enum Limited<T> {
    /// The request ran; the inner service's response.
    Served(T),
    /// The limiter refused the request; the inner service never saw it.
    Refused(AcquireError),
}

impl<T> Limited<T> {
    /// `Ok(response)` or `Err(refusal)`, for `?`.
    ///
    /// # Errors
    /// The refusal.
    pub fn into_result(self) -> Result<T, AcquireError> {
        match self {
            Limited::Served(response) => Ok(response),
            Limited::Refused(error) => Err(error),
        }
    }
}

impl<T> From<Limited<T>> for Result<T, AcquireError> {
    fn from(limited: Limited<T>) -> Self {
        limited.into_result()
    }
}

/// The service made by [`LimiterLayer`].
#[derive(Clone, Debug)]
pub struct LimiterService<S, C = AllSucceed> {
    inner: S,
    limiter: Limiter,
    classify: C,
}

impl<S, C, R> tower_service::Service<R> for LimiterService<S, C>
where
    S: tower_service::Service<R> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    S::Response: Send,
    C: Classify<S::Response> + Clone + Send + 'static,
    R: Send + 'static,
{
    type Response = Limited<S::Response>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Limited<S::Response>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        // The ready service goes with this request; a fresh clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let limiter = self.limiter.clone();
        let classify = self.classify.clone();
        Box::pin(async move {
            let mut permit = match limiter.acquire().await {
                Ok(permit) => permit,
                Err(refusal) => return Ok(Limited::Refused(refusal)),
            };
            permit.set_outcome(Outcome::Dropped);
            match inner.call(request).await {
                Ok(response) => {
                    permit.release(classify.outcome(&response));
                    Ok(Limited::Served(response))
                }
                Err(e) => {
                    permit.release(Outcome::Ignored);
                    Err(e)
                }
            }
        })
    }
}

/// The limiter in front of axum / hyper services (feature `server`).
#[cfg(feature = "server")]
mod http_layer {
    use super::*;
    use axum::response::{IntoResponse, Response};

    impl IntoResponse for AcquireError {
        /// `503 Service Unavailable` with `Retry-After: 1` when the limiter shed the request
        /// (queue full, nothing free), `504 Gateway Timeout` when its wait or overall deadline
        /// passed, `500` for a misconfigured limiter; the body is the error's message.
        fn into_response(self) -> Response {
            use axum::http::{StatusCode, header};
            let message = self.to_string();
            if self.is_rejection() {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, "1")],
                    message,
                )
                    .into_response();
            }
            let status = if self.is_timeout() {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            (status, message).into_response()
        }
    }

    impl<T: IntoResponse> IntoResponse for Limited<T> {
        /// The served response as it is; a refusal as [`AcquireError`]'s response.
        fn into_response(self) -> Response {
            match self {
                Limited::Served(response) => response.into_response(),
                Limited::Refused(refusal) => refusal.into_response(),
            }
        }
    }

    /// A [`LimiterLayer`] classifier for HTTP: a `5xx` response is a congestion signal
    /// ([`Outcome::Dropped`]), anything else a success.
    pub fn http_outcome(response: &Response) -> Outcome {
        if response.status().is_server_error() {
            Outcome::Dropped
        } else {
            Outcome::Success
        }
    }
}

#[cfg(feature = "server")]
pub use http_layer::http_outcome;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod stress;
