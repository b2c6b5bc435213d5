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
//! # Clock reads
//! A permit under a fixed limit reads no clock unless it has to wait; under an adaptive
//! algorithm (which needs each permit's latency) it reads [`clock::fast_now`] at admission
//! and at release.
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

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
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
use crate::driver::{self, Host, IdMap, Timed, Timer, Wait, WakeList, arm, lock};

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
    /// The algorithm needs each permit's admission and release time.
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
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared.state);
        f.debug_struct("Limiter")
            .field("limit", &state.machine.limit())
            .field("in_flight", &state.machine.in_flight())
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
        let max_waiters = config.max_waiters;
        let machine = core::Limiter::new(config).map_err(AcquireError::Config)?;
        Ok(Limiter {
            shared: Arc::new(Shared {
                timed: machine.is_timed(),
                state: Mutex::new(State {
                    machine,
                    waiters: IdMap::default(),
                    armed: None,
                    timer_task: None,
                }),
                max_waiters,
                timer: Timer::new(),
            }),
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
        let mut state = lock(&shared.state);
        if !shared.timed
            && let Some(id) = state.machine.admit_untimed()
        {
            return Ok(Permit::new(shared, id));
        }
        match state.machine.acquire(shared.now(), Instant::ZERO) {
            Acquire::Admitted(id) => Ok(Permit::new(shared, id)),
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
        lock(&self.shared.state).machine.in_flight()
    }

    /// Callers waiting now.
    pub fn waiting(&self) -> usize {
        lock(&self.shared.state).machine.waiting()
    }

    /// The core statistics now (serializes as the report's `components.limiter`).
    pub fn stats(&self) -> LimiterStats {
        let now = clock::now();
        lock(&self.shared.state).machine.stats(now)
    }

    /// Checks the core machine's invariants and that the host tracks exactly the queued
    /// callers; panics naming a broken one. Test support (the `validate` feature), not API.
    #[cfg(any(test, feature = "validate"))]
    #[doc(hidden)]
    pub fn validate(&self) {
        let state = lock(&self.shared.state);
        state.machine.validate();
        assert_eq!(
            driver::waiting(&state.waiters),
            state.machine.waiting(),
            "host waiters != queued"
        );
    }

    /// Acquires now, waiting until `deadline(max_wait from now)` at the latest.
    async fn acquire_until(
        &self,
        deadline: impl FnOnce(Instant) -> Instant,
    ) -> Result<Permit<'_>, AcquireError> {
        let shared = &self.shared;
        let (waiter, enqueued) = {
            let mut state = lock(&shared.state);
            // The fast path: a fixed limit with a free permit reads no clock.
            if !shared.timed
                && let Some(id) = state.machine.admit_untimed()
            {
                return Ok(Permit::new(shared, id));
            }
            let now = shared.now();
            let deadline = deadline(state.machine.deadline(now));
            match state.machine.acquire(now, deadline) {
                Acquire::Admitted(id) => return Ok(Permit::new(shared, id)),
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
            Some(Some(id)) => Ok(Permit::new(shared, id)),
            _ => Err(AcquireError::TimedOut {
                waited: clock::now().saturating_duration_since(enqueued),
            }),
        }
    }
}

impl Shared {
    /// The time for a permit: the fast clock (the adaptive algorithms need it on every
    /// permit), or the precise one for the slow paths of a fixed limit.
    #[inline]
    fn now(&self) -> Instant {
        if self.timed {
            clock::fast_now()
        } else {
            clock::now()
        }
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
    fn deliver(state: &mut State, now: Instant, wake: &mut WakeList) {
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
                let _ = state.machine.cancel(now, waiter);
            }
        }
    }

    fn release(&self, id: PermitId, outcome: Outcome) {
        if !self.timed {
            let mut state = lock(&self.state);
            // A fixed limit with nobody waiting: no clock, no events.
            match state.machine.release_untimed(id, outcome) {
                Ok(false) => {}
                // A permit is released exactly once (the guard is consumed): cannot fail.
                Ok(true) | Err(_) => return,
            }
            let now = clock::now();
            let mut wake = WakeList::new();
            let _ = state.machine.release(now, id, outcome);
            Shared::deliver(&mut state, now, &mut wake);
            drop(state);
            wake.wake_all();
            return;
        }
        let now = clock::fast_now();
        let mut wake = WakeList::new();
        {
            let mut state = lock(&self.state);
            // A permit is released exactly once (the guard is consumed), so this cannot fail.
            let _ = state.machine.release(now, id, outcome);
            Shared::deliver(&mut state, now, &mut wake);
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
        _: &Arc<Self>,
        state: &mut State,
        waiter: WaiterId,
        outcome: Option<Option<PermitId>>,
        wake: &mut WakeList,
    ) {
        // Still queued (leaves the queue) or granted but not delivered (the permit is
        // released): either way the core's `cancel` settles it. A timeout needs nothing.
        if matches!(outcome, None | Some(Some(_))) {
            let now = clock::now();
            let _ = state.machine.cancel(now, waiter);
            Shared::deliver(state, now, wake);
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
            let mut state = lock(&this.state);
            if state.machine.poll_timeout().is_some_and(|t| t <= now) {
                state.machine.handle_timeout(now);
                Shared::deliver(&mut state, now, &mut wake);
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
/// [`Outcome::Success`]) and, under an adaptive algorithm, the latency since admission.
///
/// [`Limiter::acquire`] borrows the limiter; [`Limiter::acquire_owned`] gives an
/// [`OwnedPermit`] (`Permit<'static>`), which can move into `tokio::spawn`.
#[must_use = "the permit is released when dropped"]
pub struct Permit<'a> {
    shared: Home<'a>,
    /// `None` once handed over to an owned permit.
    id: Option<PermitId>,
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
        f.debug_struct("Permit").field("id", &self.id).finish()
    }
}

impl<'a> Permit<'a> {
    fn new(shared: &'a Arc<Shared>, id: PermitId) -> Permit<'a> {
        Permit {
            shared: Home::Borrowed(shared),
            id: Some(id),
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
        // Handed over, not released: `self` keeps no id, so its drop does nothing.
        Permit {
            shared: Home::Owned(Arc::clone(self.shared.get())),
            id: self.id.take(),
            outcome: self.outcome,
        }
    }
}

impl Home<'_> {
    fn get(&self) -> &Arc<Shared> {
        match self {
            Home::Borrowed(s) => s,
            Home::Owned(s) => s,
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.shared.get().release(id, self.outcome);
        }
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
