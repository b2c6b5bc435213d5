//! A concurrency limiter for async work: the tokio host of [`perfopt_core::limiter`].
//!
//! [`Limiter::run`] admits a future when a permit is free, queues it (FIFO, bounded, with a
//! wait deadline) when none is, and rejects it at once when the queue is full — the
//! backpressure that keeps overload from turning into unbounded latency. The limit is fixed
//! or adapts to observed latency and drops ([`Algorithm`]); [`Limiter::stats`] returns the
//! core statistics for the report's `components.limiter`.
//!
//! This module holds no policy: every decision (admit, queue, reject, grant, time out, the
//! limit itself) is core's. The driver is a `Mutex` around the core machine, a waker per
//! queued caller, and one timer task that calls `handle_timeout` when `poll_timeout` comes
//! due. It does not retry, shed by priority or time the work out unless asked
//! ([`Limiter::run_timeout`]).
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
//! let limiter = Limiter::new(LimiterConfig::with_algorithm(Algorithm::Fixed(2)))
//!     .expect("valid settings");
//! let answer = limiter.run(async { 6 * 7 }).await.expect("admitted");
//! assert_eq!(answer, 42);
//! let all = limiter.run_all((0..5).map(|i| async move { i * 2 })).await;
//! assert_eq!(all.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [0, 2, 4, 6, 8]);
//! assert_eq!(limiter.stats().admitted, 6);
//! # }
//! ```

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::StreamExt;
use perfopt_core::Instant;
use perfopt_core::limiter::{self as core, Acquire, LimiterEvent, PermitId, Rejection, WaiterId};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

pub use perfopt_core::limiter::{
    AimdConfig, Algorithm, AlgorithmKind, GradientConfig, LimiterStats, Outcome,
};

use crate::clock;
use crate::pool::driver::{IdMap, Timed, Timer, WakeList, arm, lock};

/// Settings of a [`Limiter`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct LimiterConfig {
    /// The core settings: algorithm, queue bound, statistics windows.
    pub limiter: core::LimiterConfig,
    /// How long a caller waits in the queue for a permit before [`LimitError::TimedOut`];
    /// `None`: as long as it takes (the queue is still bounded). Default 1 s.
    pub max_wait: Option<Duration>,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        LimiterConfig {
            limiter: core::LimiterConfig::default(),
            max_wait: Some(Duration::from_secs(1)),
        }
    }
}

impl LimiterConfig {
    /// The default settings with `algorithm`.
    pub fn with_algorithm(algorithm: Algorithm) -> LimiterConfig {
        LimiterConfig {
            limiter: core::LimiterConfig::with_algorithm(algorithm),
            ..LimiterConfig::default()
        }
    }
}

/// Why a limiter could not be built or a unit of work did not run (or did not finish).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum LimitError {
    /// A setting is invalid; the core error names it.
    Config(core::LimiterError),
    /// The wait queue was full: the system is overloaded (backpressure). Nothing ran.
    QueueFull,
    /// No permit was free and the call would not wait ([`Limiter::try_run`]). Nothing ran.
    NoPermit,
    /// The caller waited `waited` (the configured `max_wait`) without getting a permit.
    /// Nothing ran.
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

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitError::Config(e) => write!(f, "invalid limiter setting: {e}"),
            LimitError::QueueFull => f.write_str("rejected: the limiter's wait queue is full"),
            LimitError::NoPermit => f.write_str("rejected: no permit is free"),
            LimitError::TimedOut { waited } => {
                write!(f, "no permit within max_wait ({waited:?})")
            }
            LimitError::Elapsed { timeout } => write!(f, "timed out after {timeout:?}"),
            LimitError::NoRuntime => {
                f.write_str("a limiter wait needs a tokio runtime with the time driver")
            }
        }
    }
}

impl std::error::Error for LimitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LimitError::Config(e) => Some(e),
            _ => None,
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
    max_wait: Option<Duration>,
    max_queue: usize,
    timer: Timer,
}

struct State {
    machine: core::Limiter,
    /// One entry per queued caller, until its future has taken the outcome.
    waiters: IdMap<Wait>,
    /// The deadline the timer task sleeps until.
    armed: Option<Instant>,
    /// The timer task, once a caller had to wait.
    timer_task: Option<JoinHandle<()>>,
}

/// A queued caller's side of the queue.
enum Wait {
    Waiting(Option<Waker>),
    Granted(PermitId),
    TimedOut,
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared.state);
        f.debug_struct("Limiter")
            .field("limit", &state.machine.limit())
            .field("in_flight", &state.machine.in_flight())
            .field("queued", &state.machine.queued())
            .finish()
    }
}

impl Limiter {
    /// A limiter with `config`. Works outside a runtime; the timer task starts with the
    /// first caller that has to wait.
    ///
    /// # Errors
    /// [`LimitError::Config`] naming the first invalid setting (a zero limit, unordered
    /// limits, a ratio out of range, a zero `max_wait` or other zero duration or count).
    pub fn new(config: LimiterConfig) -> Result<Limiter, LimitError> {
        if config.max_wait.is_some_and(|d| d.is_zero()) {
            return Err(LimitError::Config(core::LimiterError::ZeroDuration(
                "max_wait",
            )));
        }
        let max_queue = config.limiter.max_queue;
        let machine = core::Limiter::new(config.limiter).map_err(LimitError::Config)?;
        Ok(Limiter {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    machine,
                    waiters: IdMap::default(),
                    armed: None,
                    timer_task: None,
                }),
                max_wait: config.max_wait,
                max_queue,
                timer: Timer::new(),
            }),
        })
    }

    /// A limiter with a fixed limit and the default queue and wait settings.
    ///
    /// # Errors
    /// [`LimitError::Config`] if `limit` is zero.
    pub fn fixed(limit: u32) -> Result<Limiter, LimitError> {
        Limiter::new(LimiterConfig::with_algorithm(Algorithm::Fixed(limit)))
    }

    /// Runs `fut` once a permit is free, waiting up to `max_wait` in the queue; the permit
    /// is released when `fut` completes, with its latency (admission to completion) and
    /// [`Outcome::Success`]. If this future is dropped while `fut` runs, the permit is
    /// released as [`Outcome::Dropped`].
    ///
    /// # Errors
    /// [`LimitError::QueueFull`] (rejected at once), [`LimitError::TimedOut`] (waited
    /// `max_wait`), [`LimitError::NoRuntime`]. `fut` did not run in any of these cases.
    ///
    /// # Example
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let limiter = perfopt::limiter::Limiter::fixed(4).unwrap();
    /// assert_eq!(limiter.run(async { "done" }).await, Ok("done"));
    /// # }
    /// ```
    pub async fn run<F: Future>(&self, fut: F) -> Result<F::Output, LimitError> {
        let mut permit = self.acquire().await?;
        permit.outcome = Outcome::Dropped;
        let output = fut.await;
        permit.release(Outcome::Success);
        Ok(output)
    }

    /// Runs `fut` only if a permit is free now; never waits.
    ///
    /// # Errors
    /// [`LimitError::NoPermit`] if no permit is free or others already wait; `fut` did not
    /// run.
    pub async fn try_run<F: Future>(&self, fut: F) -> Result<F::Output, LimitError> {
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
    /// [`LimitError::Elapsed`] if the timeout passed (while waiting or running),
    /// [`LimitError::Config`] for a zero `timeout`, and the errors of [`run`](Limiter::run).
    ///
    /// # Example
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// use perfopt::limiter::{LimitError, Limiter};
    ///
    /// let limiter = Limiter::fixed(1).unwrap();
    /// let slow = limiter.run_timeout(Duration::from_millis(10), async {
    ///     tokio::time::sleep(Duration::from_secs(5)).await;
    /// });
    /// assert!(matches!(slow.await, Err(LimitError::Elapsed { .. })));
    /// assert_eq!(limiter.in_flight(), 0);
    /// # }
    /// ```
    pub async fn run_timeout<F: Future>(
        &self,
        timeout: Duration,
        fut: F,
    ) -> Result<F::Output, LimitError> {
        if timeout.is_zero() {
            return Err(LimitError::Config(core::LimiterError::ZeroDuration(
                "timeout",
            )));
        }
        let now = clock::now();
        let overall = now.saturating_add(timeout);
        let deadline = self.wait_deadline(now).min(overall);
        let mut permit = match self.acquire_until(now, deadline).await {
            Err(LimitError::TimedOut { .. }) if deadline == overall => {
                return Err(LimitError::Elapsed { timeout });
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
                Err(LimitError::Elapsed { timeout })
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
    pub async fn run_all<I, F>(&self, futures: I) -> Vec<Result<F::Output, LimitError>>
    where
        I: IntoIterator<Item = F>,
        F: Future,
    {
        let limit = usize::try_from(self.limit()).unwrap_or(usize::MAX);
        let window = limit
            .saturating_mul(2)
            .min(limit.saturating_add(self.shared.max_queue))
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
    pub async fn acquire(&self) -> Result<Permit<'_>, LimitError> {
        let now = clock::now();
        self.acquire_until(now, self.wait_deadline(now)).await
    }

    /// A permit if one is free now and nobody waits; never waits.
    ///
    /// # Errors
    /// [`LimitError::NoPermit`].
    pub fn try_acquire(&self) -> Result<Permit<'_>, LimitError> {
        let now = clock::now();
        let mut state = lock(&self.shared.state);
        match state.machine.acquire(now, Instant::ZERO) {
            Acquire::Admitted(id) => Ok(Permit::new(&self.shared, id)),
            Acquire::Rejected(Rejection::QueueFull) => Err(LimitError::QueueFull),
            _ => Err(LimitError::NoPermit),
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
    pub fn queued(&self) -> usize {
        lock(&self.shared.state).machine.queued()
    }

    /// The core statistics now (serializes as the report's `components.limiter`).
    pub fn stats(&self) -> LimiterStats {
        let now = clock::now();
        lock(&self.shared.state).machine.stats(now)
    }

    /// Checks the core machine's invariants and that the host tracks exactly the queued
    /// callers; panics naming a broken one. Test support, not API.
    #[doc(hidden)]
    pub fn validate(&self) {
        let state = lock(&self.shared.state);
        state.machine.validate();
        let waiting = state
            .waiters
            .values()
            .filter(|w| matches!(w, Wait::Waiting(_)))
            .count();
        assert_eq!(waiting, state.machine.queued(), "host waiters != queued");
    }

    fn wait_deadline(&self, now: Instant) -> Instant {
        self.shared
            .max_wait
            .map_or(Instant::MAX, |d| now.saturating_add(d))
    }

    /// Acquires at `now`, waiting until `deadline` at the latest.
    async fn acquire_until(
        &self,
        now: Instant,
        deadline: Instant,
    ) -> Result<Permit<'_>, LimitError> {
        let waiter = {
            let mut state = lock(&self.shared.state);
            match state.machine.acquire(now, deadline) {
                Acquire::Admitted(id) => return Ok(Permit::new(&self.shared, id)),
                Acquire::Rejected(Rejection::QueueFull) => return Err(LimitError::QueueFull),
                Acquire::Rejected(_) => return Err(LimitError::NoPermit),
                Acquire::Queued(waiter) => {
                    if let Err(e) = self.start_timer(&mut state) {
                        // Undo the queueing: nothing may wait without a timer.
                        let _ = state.machine.cancel(now, waiter);
                        drop(state);
                        return Err(e);
                    }
                    state.waiters.insert(waiter.as_u64(), Wait::Waiting(None));
                    let next = state.machine.poll_timeout();
                    if arm(&mut state.armed, next) {
                        self.shared.timer.wake();
                    }
                    waiter
                }
                _ => return Err(LimitError::NoPermit),
            }
        };
        let mut wait = Queued {
            shared: &self.shared,
            waiter,
            enqueued: now,
            done: false,
        };
        poll_fn(|cx| wait.poll(cx)).await
    }

    /// Starts the timer task unless it runs. It is started again if the runtime it ran on
    /// has shut down (a limiter may outlive a runtime and serve the next one).
    fn start_timer(&self, state: &mut State) -> Result<(), LimitError> {
        if state.timer_task.as_ref().is_some_and(|t| !t.is_finished()) {
            return Ok(());
        }
        let runtime = Handle::try_current().map_err(|_| LimitError::NoRuntime)?;
        let task = self
            .shared
            .timer
            .spawn(&runtime, Arc::downgrade(&self.shared));
        state.timer_task = Some(task);
        state.armed = None;
        Ok(())
    }
}

impl Shared {
    /// Delivers the machine's pending events to their waiters (wakers collected in `wake`).
    fn deliver(state: &mut State, now: Instant, wake: &mut WakeList) {
        while let Some(event) = state.machine.poll_event() {
            match event {
                LimiterEvent::Granted { waiter, permit } => {
                    match state.waiters.get_mut(&waiter.as_u64()) {
                        Some(entry @ Wait::Waiting(_)) => {
                            if let Wait::Waiting(w) =
                                std::mem::replace(entry, Wait::Granted(permit))
                            {
                                wake.push(w);
                            }
                        }
                        // The caller is gone (cannot happen: a dropped caller cancels under
                        // this lock); hand the permit back so it is not leaked.
                        _ => {
                            let _ = state.machine.cancel(now, waiter);
                        }
                    }
                }
                LimiterEvent::TimedOut { waiter } => {
                    if let Some(entry) = state.waiters.get_mut(&waiter.as_u64())
                        && let Wait::Waiting(w) = std::mem::replace(entry, Wait::TimedOut)
                    {
                        wake.push(w);
                    }
                }
                _ => {}
            }
        }
    }

    fn release(&self, id: PermitId, outcome: Outcome) {
        let now = clock::now();
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

/// A queued caller; dropping it before it finishes gives its place (or its undelivered
/// permit) back.
struct Queued<'a> {
    shared: &'a Shared,
    waiter: WaiterId,
    enqueued: Instant,
    done: bool,
}

impl<'a> Queued<'a> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<Permit<'a>, LimitError>> {
        let mut state = lock(&self.shared.state);
        let key = self.waiter.as_u64();
        match state.waiters.get_mut(&key) {
            Some(Wait::Waiting(w)) => {
                match w {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *w = Some(cx.waker().clone()),
                }
                return Poll::Pending;
            }
            Some(Wait::Granted(_)) | Some(Wait::TimedOut) | None => {}
        }
        self.done = true;
        let result = match state.waiters.remove(&key) {
            Some(Wait::Granted(id)) => Ok(Permit::new(self.shared, id)),
            _ => Err(LimitError::TimedOut {
                waited: clock::now().saturating_duration_since(self.enqueued),
            }),
        };
        Poll::Ready(result)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let now = clock::now();
        let mut wake = WakeList::new();
        {
            let mut state = lock(&self.shared.state);
            match state.waiters.remove(&self.waiter.as_u64()) {
                // Still queued (leaves the queue) or granted but not delivered (the permit
                // is released): either way the core's `cancel` settles it.
                Some(Wait::Waiting(_) | Wait::Granted(_)) => {
                    let _ = state.machine.cancel(now, self.waiter);
                    Shared::deliver(&mut state, now, &mut wake);
                }
                Some(Wait::TimedOut) | None => {}
            }
        }
        wake.wake_all();
    }
}

/// A held permit. Dropping it releases it with its outcome (by default
/// [`Outcome::Success`]) and the latency since admission.
#[must_use = "the permit is released when dropped"]
pub struct Permit<'a> {
    shared: &'a Shared,
    id: PermitId,
    outcome: Outcome,
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").field("id", &self.id).finish()
    }
}

impl<'a> Permit<'a> {
    fn new(shared: &'a Shared, id: PermitId) -> Permit<'a> {
        Permit {
            shared,
            id,
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
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.shared.release(self.id, self.outcome);
    }
}

/// A [`tower_layer::Layer`] that runs every request of the wrapped service through a
/// [`Limiter`] (waiting up to `max_wait`; rejected requests fail with a [`LimitError`]).
///
/// A response that is `Ok` releases its permit as [`Outcome::Success`], an `Err` as
/// [`Outcome::Ignored`], and a response future dropped before it finished as
/// [`Outcome::Dropped`].
#[derive(Clone, Debug)]
pub struct LimiterLayer {
    limiter: Limiter,
}

impl LimiterLayer {
    /// A layer sharing `limiter` among every service it wraps.
    pub fn new(limiter: Limiter) -> LimiterLayer {
        LimiterLayer { limiter }
    }
}

impl<S> tower_layer::Layer<S> for LimiterLayer {
    type Service = LimiterService<S>;

    fn layer(&self, inner: S) -> LimiterService<S> {
        LimiterService {
            inner,
            limiter: self.limiter.clone(),
        }
    }
}

/// The service made by [`LimiterLayer`].
#[derive(Clone, Debug)]
pub struct LimiterService<S> {
    inner: S,
    limiter: Limiter,
}

/// The error type of [`LimiterService`]: the inner service's error or a [`LimitError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, R> tower_service::Service<R> for LimiterService<S>
where
    S: tower_service::Service<R> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    S::Response: Send,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: R) -> Self::Future {
        // The ready service goes with this request; a fresh clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let limiter = self.limiter.clone();
        Box::pin(async move {
            let mut permit = limiter.acquire().await?;
            permit.set_outcome(Outcome::Dropped);
            match inner.call(request).await {
                Ok(response) => {
                    permit.release(Outcome::Success);
                    Ok(response)
                }
                Err(e) => {
                    permit.release(Outcome::Ignored);
                    Err(e.into())
                }
            }
        })
    }
}
