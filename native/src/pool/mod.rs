//! A connection pool for async services: the tokio host of [`perfopt_core::pool`].
//!
//! [`Pool<M>`](Pool) hands out connections made by a [`Manager`] — [`TcpManager`] (a TCP
//! address), [`SqliteManager`] (a SQLite file through rusqlite's bundled SQLite), or
//! [`ObjectManager`] (reusable objects such as buffers: the seed's memory pool). A caller that
//! finds no idle connection waits in a FIFO queue until one is returned, created or checked,
//! or until its wait deadline, when it gets a typed [`Error`] naming the target and the last
//! connection error. The [`Pooled`] guard returns the connection when dropped (closed instead
//! if marked broken).
//!
//! This module holds no policy: when to create, check, hand out, close or give up is the
//! core machine's decision. The driver is a `Mutex` around the machine and a map of the
//! idle connections, a waker per queued caller, spawned tasks for the I/O the machine asks
//! for (`Create`, `Check`), and one timer task driven by `poll_timeout`. It does not retry
//! a failed query, balance between hosts or resize itself.
//!
//! # Cancellation
//! Dropping a [`Pool::get`] future at any point never leaks a slot: a queued caller leaves
//! the queue, and a connection granted but not yet delivered is handed back with the core's
//! `cancel`.
//!
//! # Example
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use perfopt::pool::{ObjectManager, Pool, PoolConfig};
//!
//! // A pool of at most 4 reusable 64 KiB buffers, cleared on return.
//! let buffers = Pool::new(
//!     ObjectManager::new(|| Vec::<u8>::with_capacity(64 * 1024), Vec::clear),
//!     PoolConfig::for_objects(4),
//! )
//! .expect("valid settings");
//! let mut buf = buffers.get().await.expect("a buffer");
//! buf.extend_from_slice(b"hello");
//! drop(buf); // back to the pool, cleared
//! let buf = buffers.get().await.expect("the same buffer");
//! assert!(buf.is_empty() && buf.capacity() >= 64 * 1024);
//! assert_eq!(buffers.stats().created, 1);
//! # }
//! ```

mod config;
pub(crate) mod driver;
mod guard;
mod object;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "tcp")]
mod tcp;

use std::fmt;
use std::future::{Future, poll_fn};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use perfopt_core::Instant;
use perfopt_core::pool::{self as core, Get, PoolAction, SlotId, WaiterId};
use tokio::runtime::Handle;

pub use config::{CreateError, Error, PoolConfig};
pub use guard::Pooled;
pub use object::ObjectManager;
pub use perfopt_core::pool::{Backoff, CloseCause, CreateFailure, Health, PoolStats};
/// The rusqlite crate `SqliteManager` hands out connections of (feature `sqlite`), so a
/// service uses the same version perfopt links.
#[cfg(feature = "sqlite")]
pub use rusqlite;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteConnection, SqliteError, SqliteManager};
#[cfg(feature = "tcp")]
pub use tcp::TcpManager;

use crate::clock;
use driver::{IdMap, Timed, Timer, WakeList, arm, lock};

/// Makes and checks the connections of a [`Pool`].
///
/// Implement it with `async fn`s; the futures must be `Send` (they run on spawned tasks).
pub trait Manager: Send + Sync + 'static {
    /// What the pool hands out.
    type Connection: Send + 'static;
    /// Why a connection could not be made or failed its check.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Names what the pool connects to, for error messages (`tcp://127.0.0.1:5432`).
    fn target(&self) -> String;

    /// Opens a new connection. The pool bounds it with [`PoolConfig::create_timeout`].
    fn create(&self) -> impl Future<Output = Result<Self::Connection, Self::Error>> + Send;

    /// Tests an idle connection before it is reused (asked for by the core after
    /// `check_after_idle`); an error closes it. Bounded by [`PoolConfig::check_timeout`].
    fn check(
        &self,
        connection: &mut Self::Connection,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Whether a creation error is worth retrying soon ([`CreateFailure::Transient`]: the
    /// waiters keep waiting) or not ([`CreateFailure::Fatal`]: every waiter fails at once
    /// with [`Error::Create`]). Default: transient.
    fn classify(&self, error: &Self::Error) -> CreateFailure {
        let _ = error;
        CreateFailure::Transient
    }

    /// A cheap synchronous test when a connection is returned; `true` closes it. Default:
    /// `false`.
    fn is_broken(&self, connection: &mut Self::Connection) -> bool {
        let _ = connection;
        false
    }

    /// Prepares a healthy returned connection for its next user (an object pool clears
    /// its buffer). Default: nothing.
    fn reset(&self, connection: &mut Self::Connection) {
        let _ = connection;
    }
}

/// A pool of connections made by `M`. Cheap to clone (clones share the pool).
pub struct Pool<M: Manager> {
    shared: Arc<Shared<M>>,
}

impl<M: Manager> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Pool {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<M: Manager> fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared.state);
        f.debug_struct("Pool")
            .field("target", &self.shared.target)
            .field("size", &state.machine.size())
            .field("idle", &state.machine.idle())
            .field("in_use", &state.machine.in_use())
            .field("waiting", &state.machine.waiting())
            .finish()
    }
}

struct Shared<M: Manager> {
    manager: M,
    target: Arc<str>,
    wait_timeout: Option<Duration>,
    create_timeout: Duration,
    check_timeout: Duration,
    runtime: Handle,
    timer: Timer,
    state: Mutex<State<M>>,
}

struct State<M: Manager> {
    machine: core::Pool,
    /// The connection of every idle slot.
    conns: IdleConns<M::Connection>,
    /// One entry per queued caller, until its future has taken the outcome.
    waiters: IdMap<Wait<M>>,
    last_error: Option<Arc<CreateError<M::Error>>>,
    /// The deadline the timer task sleeps until.
    armed: Option<Instant>,
}

/// A queued caller's side of the queue.
enum Wait<M: Manager> {
    Waiting(Option<Waker>),
    Granted(SlotId, M::Connection),
    TimedOut(Option<Arc<CreateError<M::Error>>>),
    Failed(Arc<CreateError<M::Error>>),
}

/// The connections of idle slots, in the order they became idle. The core hands out its
/// most recently idle slot, which is the last entry here, so lookups search from the end
/// and usually stop at once — cheaper than hashing on every get and return.
struct IdleConns<C> {
    entries: Vec<(SlotId, C)>,
}

impl<C> Default for IdleConns<C> {
    fn default() -> Self {
        IdleConns {
            entries: Vec::new(),
        }
    }
}

impl<C> IdleConns<C> {
    fn insert(&mut self, slot: SlotId, conn: C) {
        self.entries.push((slot, conn));
    }

    fn remove(&mut self, slot: SlotId) -> Option<C> {
        let i = self.entries.iter().rposition(|(s, _)| *s == slot)?;
        Some(self.entries.remove(i).1)
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// The host's side effects of one locked step, performed after the lock is released.
struct Effects<M: Manager> {
    wake: WakeList,
    work: Vec<Work<M>>,
}

/// I/O the machine asked for.
enum Work<M: Manager> {
    Close(M::Connection),
    Create(SlotId),
    Check(SlotId, M::Connection),
}

impl<M: Manager> Pool<M> {
    /// A pool of connections made by `manager`, with `config`. Starts creating the
    /// `min_idle` connections at once. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first invalid setting (`max_size` zero, `min_idle` above
    /// `max_size`, a zero timeout or lifetime…); [`Error::NoRuntime`] outside a runtime.
    pub fn new(manager: M, config: PoolConfig) -> Result<Pool<M>, Error<M::Error>> {
        for (name, d) in [
            ("wait_timeout", config.wait_timeout),
            ("create_timeout", Some(config.create_timeout)),
            ("check_timeout", Some(config.check_timeout)),
        ] {
            if d.is_some_and(|d| d.is_zero()) {
                return Err(Error::Config(core::PoolError::ZeroDuration(name)));
            }
        }
        let runtime = Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let now = clock::now();
        let machine = core::Pool::new(config.pool, now).map_err(Error::Config)?;
        let shared = Arc::new(Shared {
            target: Arc::from(manager.target()),
            manager,
            wait_timeout: config.wait_timeout,
            create_timeout: config.create_timeout,
            check_timeout: config.check_timeout,
            runtime,
            timer: Timer::new(),
            state: Mutex::new(State {
                machine,
                conns: IdleConns::default(),
                waiters: IdMap::default(),
                last_error: None,
                armed: None,
            }),
        });
        // The task ends by itself when the pool is dropped.
        drop(shared.timer.spawn(&shared.runtime, Arc::downgrade(&shared)));
        let mut fx = Effects::new();
        {
            let mut state = lock(&shared.state);
            shared.settle(&mut state, now, &mut fx);
        }
        fx.apply(&shared);
        Ok(Pool { shared })
    }

    /// A connection, waiting up to [`PoolConfig::wait_timeout`] for one.
    ///
    /// # Errors
    /// [`Error::Timeout`] (naming the target and the last connection error),
    /// [`Error::Create`] (a fatal creation failure), [`Error::QueueFull`].
    ///
    /// # Example
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// use perfopt::pool::{Error, Pool, PoolConfig, TcpManager};
    ///
    /// let mut config = PoolConfig::with_max_size(2);
    /// config.wait_timeout = Some(Duration::from_millis(200));
    /// // Nothing listens on port 1: the get fails within its deadline, naming the address.
    /// let pool = Pool::new(TcpManager::new("127.0.0.1:1"), config).unwrap();
    /// let err = pool.get().await.unwrap_err();
    /// assert!(matches!(err, Error::Timeout { .. }));
    /// assert!(err.to_string().contains("tcp://127.0.0.1:1"), "{err}");
    /// # }
    /// ```
    pub async fn get(&self) -> Result<Pooled<'_, M>, Error<M::Error>> {
        let now = clock::now();
        let deadline = self
            .shared
            .wait_timeout
            .map_or(Instant::MAX, |d| now.saturating_add(d));
        self.get_until(now, deadline).await
    }

    /// A connection, waiting up to `timeout` (instead of the configured wait timeout).
    ///
    /// # Errors
    /// As [`get`](Pool::get), and [`Error::Config`] for a zero `timeout`.
    pub async fn get_timeout(&self, timeout: Duration) -> Result<Pooled<'_, M>, Error<M::Error>> {
        if timeout.is_zero() {
            return Err(Error::Config(core::PoolError::ZeroDuration("timeout")));
        }
        let now = clock::now();
        self.get_until(now, now.saturating_add(timeout)).await
    }

    /// An idle connection if one is ready now; never waits (and never checks one first).
    ///
    /// # Errors
    /// [`Error::NoIdle`].
    pub fn try_get(&self) -> Result<Pooled<'_, M>, Error<M::Error>> {
        let now = clock::now();
        match self.start(now, Instant::ZERO)? {
            Started::Ready(guard) => Ok(guard),
            Started::Queued(waiter) => {
                // A passed deadline never queues; should it, leave the queue at once.
                drop(Queued {
                    shared: &self.shared,
                    waiter,
                    enqueued: now,
                    done: false,
                });
                Err(self.no_idle())
            }
        }
    }

    /// The core statistics now (serializes as the report's `components.pool`).
    pub fn stats(&self) -> PoolStats {
        let now = clock::now();
        lock(&self.shared.state).machine.stats(now)
    }

    /// All connections: idle, in use, being created or checked.
    pub fn size(&self) -> usize {
        lock(&self.shared.state).machine.size()
    }

    /// Connections idle now.
    pub fn idle(&self) -> usize {
        lock(&self.shared.state).machine.idle()
    }

    /// Connections handed out now.
    pub fn in_use(&self) -> usize {
        lock(&self.shared.state).machine.in_use()
    }

    /// Callers waiting now.
    pub fn waiting(&self) -> usize {
        lock(&self.shared.state).machine.waiting()
    }

    /// What the pool connects to (the manager's [`target`](Manager::target)).
    pub fn target(&self) -> &str {
        &self.shared.target
    }

    /// The manager.
    pub fn manager(&self) -> &M {
        &self.shared.manager
    }

    /// Checks the core machine's invariants and that the host holds exactly one connection
    /// per idle slot and one entry per queued caller; panics naming a broken one. Test
    /// support, not API; call it when no creation or check is in progress.
    #[doc(hidden)]
    pub fn validate(&self) {
        let state = lock(&self.shared.state);
        state.machine.validate();
        assert_eq!(
            state.conns.len(),
            state.machine.idle(),
            "host connections != idle slots"
        );
        let waiting = state
            .waiters
            .values()
            .filter(|w| matches!(w, Wait::Waiting(_)))
            .count();
        assert_eq!(waiting, state.machine.waiting(), "host waiters != queued");
    }

    fn no_idle(&self) -> Error<M::Error> {
        Error::NoIdle {
            target: Arc::clone(&self.shared.target),
        }
    }

    async fn get_until(
        &self,
        now: Instant,
        deadline: Instant,
    ) -> Result<Pooled<'_, M>, Error<M::Error>> {
        let waiter = match self.start(now, deadline)? {
            Started::Ready(guard) => return Ok(guard),
            Started::Queued(waiter) => waiter,
        };
        let mut wait = Queued {
            shared: &self.shared,
            waiter,
            enqueued: now,
            done: false,
        };
        poll_fn(|cx| wait.poll(cx)).await
    }

    /// The locked first step of a get: served, queued, or refused.
    fn start(&self, now: Instant, deadline: Instant) -> Result<Started<'_, M>, Error<M::Error>> {
        let shared = &self.shared;
        let mut fx = Effects::new();
        let result = {
            let mut state = lock(&shared.state);
            let result = loop {
                match state.machine.get(now, deadline) {
                    Get::Ready(slot) => match state.conns.remove(slot) {
                        Some(conn) => {
                            break Ok(Started::Ready(Pooled::new(shared, slot, conn)));
                        }
                        // An idle slot always has its connection; should that ever fail,
                        // close the slot and ask again rather than hand out nothing.
                        None => {
                            let _ = state.machine.release(now, slot, Health::Broken);
                        }
                    },
                    Get::Queued(waiter) => {
                        state.waiters.insert(waiter.as_u64(), Wait::Waiting(None));
                        break Ok(Started::Queued(waiter));
                    }
                    Get::Rejected(core::Rejection::QueueFull) => {
                        break Err(Error::QueueFull {
                            target: Arc::clone(&shared.target),
                        });
                    }
                    _ => break Err(self.no_idle()),
                }
            };
            shared.settle(&mut state, now, &mut fx);
            result
        };
        fx.apply(shared);
        result
    }
}

enum Started<'a, M: Manager> {
    Ready(Pooled<'a, M>),
    Queued(WaiterId),
}

impl<M: Manager> Shared<M> {
    /// Drains the machine's actions into host state and `fx`, then re-arms the timer.
    fn settle(&self, state: &mut State<M>, now: Instant, fx: &mut Effects<M>) {
        while let Some(action) = state.machine.poll_action() {
            match action {
                PoolAction::Create(slot) => fx.work.push(Work::Create(slot)),
                PoolAction::Check(slot) => match state.conns.remove(slot) {
                    Some(conn) => fx.work.push(Work::Check(slot, conn)),
                    None => {
                        let _ = state.machine.handle_checked(now, slot, Health::Broken);
                    }
                },
                PoolAction::Close { slot, cause } => {
                    if let Some(conn) = state.conns.remove(slot) {
                        fx.work.push(Work::Close(conn));
                    }
                    tracing::debug!(target: "perfopt::pool", pool = %self.target, ?cause, "connection closed");
                }
                PoolAction::Grant { waiter, slot } => {
                    let conn = state.conns.remove(slot);
                    let entry = state.waiters.get_mut(&waiter.as_u64());
                    match (conn, entry) {
                        (Some(conn), Some(entry @ Wait::Waiting(_))) => {
                            if let Wait::Waiting(w) =
                                std::mem::replace(entry, Wait::Granted(slot, conn))
                            {
                                fx.wake.push(w);
                            }
                        }
                        // The caller is gone (cannot happen: a dropped caller cancels under
                        // this lock): hand the connection back so it is not leaked.
                        (Some(conn), _) => {
                            state.conns.insert(slot, conn);
                            let _ = state.machine.cancel(now, waiter);
                        }
                        // An idle slot always has its connection; should that ever fail,
                        // close the slot; the caller's wait then ends at its deadline.
                        (None, _) => {
                            let _ = state.machine.release(now, slot, Health::Broken);
                            if let Some(entry) = state.waiters.get_mut(&waiter.as_u64())
                                && let Wait::Waiting(w) =
                                    std::mem::replace(entry, Wait::TimedOut(None))
                            {
                                fx.wake.push(w);
                            }
                        }
                    }
                }
                PoolAction::TimedOut {
                    waiter,
                    last_failure,
                } => {
                    let last = last_failure.and(state.last_error.clone());
                    if let Some(entry) = state.waiters.get_mut(&waiter.as_u64())
                        && let Wait::Waiting(w) = std::mem::replace(entry, Wait::TimedOut(last))
                    {
                        fx.wake.push(w);
                    }
                }
                PoolAction::Failed { waiter, .. } => {
                    let outcome = match state.last_error.clone() {
                        Some(error) => Wait::Failed(error),
                        None => Wait::TimedOut(None),
                    };
                    if let Some(entry) = state.waiters.get_mut(&waiter.as_u64())
                        && let Wait::Waiting(w) = std::mem::replace(entry, outcome)
                    {
                        fx.wake.push(w);
                    }
                }
                PoolAction::LeakSuspected { slot, held_for } => {
                    tracing::warn!(
                        target: "perfopt::pool",
                        pool = %self.target,
                        slot = slot.as_u64(),
                        ?held_for,
                        "connection held longer than the leak threshold"
                    );
                }
                _ => {}
            }
        }
        if arm(&mut state.armed, state.machine.poll_timeout()) {
            self.timer.wake();
        }
    }

    /// Takes back a connection from a guard: `conn` is `None` if it was detached or broken
    /// (then closed by the caller).
    fn give_back(self: &Arc<Self>, slot: SlotId, conn: Option<M::Connection>) {
        let now = clock::now();
        let mut fx = Effects::new();
        {
            let mut state = lock(&self.state);
            let health = match conn {
                Some(conn) => {
                    state.conns.insert(slot, conn);
                    Health::Healthy
                }
                None => Health::Broken,
            };
            // The guard owns the slot, and returns it exactly once: this cannot fail.
            if state.machine.release(now, slot, health).is_err()
                && let Some(conn) = state.conns.remove(slot)
            {
                fx.work.push(Work::Close(conn));
            }
            self.settle(&mut state, now, &mut fx);
        }
        fx.apply(self);
    }

    fn spawn_create(self: &Arc<Self>, slot: SlotId) {
        let shared = Arc::clone(self);
        self.runtime.spawn(async move {
            let made = tokio::time::timeout(shared.create_timeout, shared.manager.create()).await;
            let now = clock::now();
            let mut fx = Effects::new();
            {
                let mut state = lock(&shared.state);
                let answered = match made {
                    Ok(Ok(conn)) => {
                        state.conns.insert(slot, conn);
                        state.machine.handle_created(now, slot)
                    }
                    Ok(Err(e)) => {
                        let failure = shared.manager.classify(&e);
                        tracing::debug!(target: "perfopt::pool", pool = %shared.target, error = %e, "connection failed");
                        state.last_error = Some(Arc::new(CreateError::Manager(e)));
                        state.machine.handle_create_failed(now, slot, failure)
                    }
                    Err(_) => {
                        let e = CreateError::TimedOut(shared.create_timeout);
                        state.last_error = Some(Arc::new(e));
                        state
                            .machine
                            .handle_create_failed(now, slot, CreateFailure::Transient)
                    }
                };
                // The slot was being created (only this task answers it): cannot fail.
                if answered.is_err()
                    && let Some(conn) = state.conns.remove(slot)
                {
                    fx.work.push(Work::Close(conn));
                }
                shared.settle(&mut state, now, &mut fx);
            }
            fx.apply(&shared);
        });
    }

    fn spawn_check(self: &Arc<Self>, slot: SlotId, mut conn: M::Connection) {
        let shared = Arc::clone(self);
        self.runtime.spawn(async move {
            let checked =
                tokio::time::timeout(shared.check_timeout, shared.manager.check(&mut conn)).await;
            let health = match checked {
                Ok(Ok(())) => Health::Healthy,
                _ => Health::Broken,
            };
            let now = clock::now();
            let mut fx = Effects::new();
            {
                let mut state = lock(&shared.state);
                if health == Health::Healthy {
                    state.conns.insert(slot, conn);
                } else {
                    fx.work.push(Work::Close(conn));
                }
                // The slot was being checked (only this task answers it): cannot fail.
                if state.machine.handle_checked(now, slot, health).is_err()
                    && let Some(conn) = state.conns.remove(slot)
                {
                    fx.work.push(Work::Close(conn));
                }
                shared.settle(&mut state, now, &mut fx);
            }
            fx.apply(&shared);
        });
    }
}

impl<M: Manager> Timed for Shared<M> {
    fn on_timer(this: &Arc<Self>) -> Option<Instant> {
        let now = clock::now();
        let mut fx = Effects::new();
        let next = {
            let mut state = lock(&this.state);
            if state.machine.poll_timeout().is_some_and(|t| t <= now) {
                state.machine.handle_timeout(now);
            }
            this.settle(&mut state, now, &mut fx);
            let next = state.machine.poll_timeout();
            state.armed = next;
            next
        };
        fx.apply(this);
        next
    }
}

impl<M: Manager> Effects<M> {
    #[inline]
    fn new() -> Effects<M> {
        Effects {
            wake: WakeList::new(),
            work: Vec::new(),
        }
    }

    /// Performs the effects (nothing to do on the hot path of a get or a return).
    #[inline]
    fn apply(self, shared: &Arc<Shared<M>>) {
        if self.wake.is_empty() && self.work.is_empty() {
            return;
        }
        self.apply_slow(shared);
    }

    #[cold]
    fn apply_slow(self, shared: &Arc<Shared<M>>) {
        self.wake.wake_all();
        for work in self.work {
            match work {
                Work::Close(conn) => drop(conn),
                Work::Create(slot) => shared.spawn_create(slot),
                Work::Check(slot, conn) => shared.spawn_check(slot, conn),
            }
        }
    }
}

/// A queued caller; dropping it before it finishes gives its place (or its undelivered
/// connection) back.
struct Queued<'a, M: Manager> {
    shared: &'a Arc<Shared<M>>,
    waiter: WaiterId,
    enqueued: Instant,
    done: bool,
}

impl<'a, M: Manager> Queued<'a, M> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<Pooled<'a, M>, Error<M::Error>>> {
        let mut state = lock(&self.shared.state);
        let key = self.waiter.as_u64();
        if let Some(Wait::Waiting(w)) = state.waiters.get_mut(&key) {
            match w {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *w = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        self.done = true;
        let target = Arc::clone(&self.shared.target);
        Poll::Ready(match state.waiters.remove(&key) {
            Some(Wait::Granted(slot, conn)) => Ok(Pooled::new(self.shared, slot, conn)),
            Some(Wait::Failed(error)) => Err(Error::Create { target, error }),
            Some(Wait::TimedOut(last_error)) => Err(Error::Timeout {
                target,
                waited: clock::now().saturating_duration_since(self.enqueued),
                last_error,
            }),
            Some(Wait::Waiting(_)) | None => Err(Error::Timeout {
                target,
                waited: clock::now().saturating_duration_since(self.enqueued),
                last_error: None,
            }),
        })
    }
}

impl<M: Manager> Drop for Queued<'_, M> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let now = clock::now();
        let mut fx = Effects::new();
        {
            let mut state = lock(&self.shared.state);
            match state.waiters.remove(&self.waiter.as_u64()) {
                Some(Wait::Waiting(_)) => {
                    let _ = state.machine.cancel(now, self.waiter);
                }
                // Granted but not delivered: the connection goes back with the core's
                // `cancel`, which returns the slot as healthy.
                Some(Wait::Granted(slot, conn)) => {
                    state.conns.insert(slot, conn);
                    let _ = state.machine.cancel(now, self.waiter);
                }
                Some(Wait::TimedOut(_) | Wait::Failed(_)) | None => {}
            }
            self.shared.settle(&mut state, now, &mut fx);
        }
        fx.apply(self.shared);
    }
}

/// A pool of reusable objects: see [`ObjectManager`].
pub type ObjectPool<T> = Pool<ObjectManager<T>>;
