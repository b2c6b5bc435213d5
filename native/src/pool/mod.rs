//! A connection pool for async services: the tokio host of [`perfopt_core::pool`].
//!
//! [`Pool<M>`](Pool) hands out connections made by a [`Manager`] — [`TcpManager`] (a TCP
//! address), [`SqliteManager`] (a SQLite file through rusqlite's bundled SQLite), or
//! [`ObjectManager`] (reusable objects such as buffers: the seed's memory pool). A caller that
//! finds no idle connection waits in a FIFO queue until one is returned, created or checked,
//! or until its wait deadline, when it gets a typed [`GetError`] naming the target and the
//! last connection error. The [`Pooled`] guard returns the connection when dropped (closed instead
//! if marked broken).
//!
//! This module holds no policy: when to create, check, hand out, close or give up is the
//! core machine's decision. The host is a `Mutex` around the machine and a map of the
//! idle connections, driven through `crate::driver` (the queued caller's future, the timer
//! task), plus spawned tasks for the I/O the machine asks for (`Create`, `Check`). It does not retry
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
mod guard;
mod object;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "tcp")]
mod tcp;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use perfopt_core::Instant;
use perfopt_core::pool::{self as core, Get, PoolAction, SlotId};
use perfopt_core::wait::{Rejection, WaiterId};
use tokio::runtime::Handle;

pub use config::{CreateError, GetError};
pub use guard::{OwnedPooled, Pooled};
pub use object::ObjectManager;
pub use perfopt_core::pool::{Backoff, CloseCause, CreateFailure, Health, PoolConfig, PoolStats};
/// The rusqlite crate `SqliteManager` hands out connections of (feature `sqlite`), so a
/// service uses the same version perfopt links.
#[cfg(feature = "sqlite")]
pub use rusqlite;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteConnection, SqliteError, SqliteManager};
#[cfg(feature = "tcp")]
pub use tcp::TcpManager;

use crate::clock;
use crate::driver::{self, Host, IdMap, Mutex, Timed, Timer, Wait, WakeList, arm, lock};

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
    /// with [`GetError::Create`]). Default: transient.
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
    waiters: IdMap<Wait<Settled<M>>>,
    last_error: Option<Arc<CreateError<M::Error>>>,
    /// The deadline the timer task sleeps until.
    armed: Option<Instant>,
}

/// How the machine settled a queued caller.
enum Settled<M: Manager> {
    Granted(SlotId, M::Connection),
    Closed,
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

    #[cfg(any(test, feature = "validate"))]
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
    /// [`GetError::Config`] naming the first invalid setting (`max_size` zero, `min_idle`
    /// above `max_size`, a zero timeout or lifetime…); [`GetError::NoRuntime`] outside a
    /// runtime.
    pub fn new(manager: M, config: PoolConfig) -> Result<Pool<M>, GetError<M::Error>> {
        config.validate().map_err(GetError::Config)?;
        let runtime = Handle::try_current().map_err(|_| GetError::NoRuntime)?;
        let now = clock::now();
        let (create_timeout, check_timeout) = (config.create_timeout, config.check_timeout);
        let machine = core::Pool::new(config, now).map_err(GetError::Config)?;
        let shared = Arc::new(Shared {
            target: Arc::from(manager.target()),
            manager,
            create_timeout,
            check_timeout,
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

    /// A connection, waiting up to [`PoolConfig::max_wait`] for one.
    ///
    /// # Errors
    /// [`GetError::TimedOut`] (naming the target and the last connection error),
    /// [`GetError::Create`] (a fatal creation failure), [`GetError::QueueFull`].
    ///
    /// # Example
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// use perfopt::pool::{GetError, Pool, PoolConfig, TcpManager};
    ///
    /// let config = PoolConfig::new(2).with_max_wait(Some(Duration::from_millis(200)));
    /// // Nothing listens on port 1: the get fails within its deadline, naming the address.
    /// let pool = Pool::new(TcpManager::new("127.0.0.1:1"), config).unwrap();
    /// let err = pool.get().await.unwrap_err();
    /// assert!(matches!(err, GetError::TimedOut { .. }));
    /// assert!(err.to_string().contains("tcp://127.0.0.1:1"), "{err}");
    /// # }
    /// ```
    pub async fn get(&self) -> Result<Pooled<'_, M>, GetError<M::Error>> {
        self.get_until(None).await
    }

    /// A connection, waiting up to `timeout` (instead of the configured wait timeout).
    ///
    /// # Errors
    /// As [`get`](Pool::get), and [`GetError::Config`] for a zero `timeout`.
    pub async fn get_timeout(
        &self,
        timeout: Duration,
    ) -> Result<Pooled<'_, M>, GetError<M::Error>> {
        if timeout.is_zero() {
            return Err(GetError::Config(core::PoolError::ZeroDuration("timeout")));
        }
        self.get_until(Some(timeout)).await
    }

    /// As [`get`](Pool::get), with a guard that owns a handle to the pool: `'static + Send`,
    /// so it can move into `tokio::spawn`.
    ///
    /// # Errors
    /// As [`get`](Pool::get).
    ///
    /// # Example
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use perfopt::pool::{ObjectManager, Pool, PoolConfig};
    ///
    /// let pool = Pool::new(ObjectManager::new(Vec::<u8>::new, Vec::clear), PoolConfig::for_objects(2))
    ///     .unwrap();
    /// let mut buf = pool.get_owned().await.unwrap();
    /// tokio::spawn(async move { buf.push(1) }).await.unwrap();
    /// assert_eq!(pool.in_use(), 0);
    /// # }
    /// ```
    pub async fn get_owned(&self) -> Result<OwnedPooled<M>, GetError<M::Error>> {
        Ok(self.get().await?.into_owned())
    }

    /// Closes the pool: queued callers fail with [`GetError::Closed`], idle connections are
    /// closed now, connections in use are closed when returned, and later gets fail with
    /// [`GetError::Closed`]. Closing twice is harmless.
    pub fn close(&self) {
        let now = clock::now();
        let mut fx = Effects::new();
        {
            let mut state = lock(&self.shared.state);
            state.machine.close(now);
            self.shared.settle(&mut state, now, &mut fx);
        }
        fx.apply(&self.shared);
    }

    /// Whether [`close`](Pool::close) was called.
    pub fn is_closed(&self) -> bool {
        lock(&self.shared.state).machine.is_closed()
    }

    /// An idle connection if one is ready now; never waits (and never checks one first).
    ///
    /// # Errors
    /// [`GetError::WouldWait`].
    pub fn try_get(&self) -> Result<Pooled<'_, M>, GetError<M::Error>> {
        match self.start(clock::now(), |_| Instant::ZERO)? {
            Started::Ready(slot, conn) => Ok(Pooled::new(&self.shared, slot, conn)),
            // A passed deadline never queues.
            Started::Queued(..) => unreachable!("a get that would not wait was queued"),
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
    /// support (the `validate` feature), not API; call it when no creation or check is in
    /// progress.
    #[cfg(any(test, feature = "validate"))]
    #[doc(hidden)]
    pub fn validate(&self) {
        let state = lock(&self.shared.state);
        state.machine.validate();
        assert_eq!(
            state.conns.len(),
            state.machine.idle(),
            "host connections != idle slots"
        );
        driver::assert_waiting(&state.waiters, state.machine.waiting());
    }

    /// A get waiting up to `timeout` (`None`: `max_wait`).
    async fn get_until(
        &self,
        timeout: Option<Duration>,
    ) -> Result<Pooled<'_, M>, GetError<M::Error>> {
        let now = clock::now();
        let deadline = |max_wait| timeout.map_or(max_wait, |t| now.saturating_add(t));
        let waiter = match self.start(now, deadline)? {
            Started::Ready(slot, conn) => return Ok(Pooled::new(&self.shared, slot, conn)),
            Started::Queued(waiter) => waiter,
        };
        let target = || Arc::clone(&self.shared.target);
        let waited = || clock::now().saturating_duration_since(now);
        match driver::wait(&self.shared, waiter).await {
            Some(Settled::Granted(slot, conn)) => Ok(Pooled::new(&self.shared, slot, conn)),
            Some(Settled::Closed) => Err(GetError::Closed { target: target() }),
            Some(Settled::Failed(error)) => Err(GetError::Create {
                target: target(),
                error,
            }),
            Some(Settled::TimedOut(last_error)) => Err(GetError::TimedOut {
                target: target(),
                waited: waited(),
                last_error,
            }),
            None => Err(GetError::TimedOut {
                target: target(),
                waited: waited(),
                last_error: None,
            }),
        }
    }

    /// The locked first step of a get: served, queued, or refused. `deadline` maps the
    /// `max_wait` deadline to the get's.
    fn start(
        &self,
        now: Instant,
        deadline: impl FnOnce(Instant) -> Instant,
    ) -> Result<Started<M>, GetError<M::Error>> {
        let shared = &self.shared;
        let mut fx = Effects::new();
        let result = {
            let mut state = lock(&shared.state);
            let deadline = deadline(state.machine.deadline(now));
            let result = loop {
                match state.machine.get(now, deadline) {
                    Get::Ready(slot) => match state.conns.remove(slot) {
                        Some(conn) => break Ok(Started::Ready(slot, conn)),
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
                    Get::Rejected(Rejection::Closed) => {
                        break Err(GetError::Closed {
                            target: Arc::clone(&shared.target),
                        });
                    }
                    Get::Rejected(Rejection::QueueFull) => {
                        break Err(GetError::QueueFull {
                            target: Arc::clone(&shared.target),
                        });
                    }
                    _ => {
                        break Err(GetError::WouldWait {
                            target: Arc::clone(&shared.target),
                        });
                    }
                }
            };
            shared.settle(&mut state, now, &mut fx);
            result
        };
        fx.apply(shared);
        result
    }
}

enum Started<M: Manager> {
    Ready(SlotId, M::Connection),
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
                PoolAction::Grant { waiter, slot } => match state.conns.remove(slot) {
                    Some(conn) => {
                        let granted = Settled::Granted(slot, conn);
                        // The caller is gone (cannot happen: a dropped caller cancels under
                        // this lock): hand the connection back so it is not leaked.
                        if let Err(Settled::Granted(slot, conn)) =
                            driver::deliver(&mut state.waiters, waiter, granted, &mut fx.wake)
                        {
                            state.conns.insert(slot, conn);
                            let _ = state.machine.cancel(now, waiter);
                        }
                    }
                    // An idle slot always has its connection; should that ever fail, close
                    // the slot and end the caller's wait.
                    None => {
                        let _ = state.machine.release(now, slot, Health::Broken);
                        let _ = driver::deliver(
                            &mut state.waiters,
                            waiter,
                            Settled::TimedOut(None),
                            &mut fx.wake,
                        );
                    }
                },
                PoolAction::TimedOut {
                    waiter,
                    last_failure,
                } => {
                    let last = last_failure.and(state.last_error.clone());
                    let _ = driver::deliver(
                        &mut state.waiters,
                        waiter,
                        Settled::TimedOut(last),
                        &mut fx.wake,
                    );
                }
                PoolAction::Rejected { waiter, .. } => {
                    let _ =
                        driver::deliver(&mut state.waiters, waiter, Settled::Closed, &mut fx.wake);
                }
                PoolAction::Failed { waiter, .. } => {
                    let outcome = match state.last_error.clone() {
                        Some(error) => Settled::Failed(error),
                        None => Settled::TimedOut(None),
                    };
                    let _ = driver::deliver(&mut state.waiters, waiter, outcome, &mut fx.wake);
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

impl<M: Manager> Host for Shared<M> {
    type Outcome = Settled<M>;
    type State = State<M>;
    type Effects = Effects<M>;

    fn state(&self) -> &Mutex<State<M>> {
        &self.state
    }

    fn waiters(state: &mut State<M>) -> &mut IdMap<Wait<Settled<M>>> {
        &mut state.waiters
    }

    fn effects() -> Effects<M> {
        Effects::new()
    }

    fn abandon(
        this: &Arc<Self>,
        state: &mut State<M>,
        waiter: WaiterId,
        outcome: Option<Settled<M>>,
        fx: &mut Effects<M>,
    ) {
        let now = clock::now();
        match outcome {
            None => {
                let _ = state.machine.cancel(now, waiter);
            }
            // Granted but not delivered: the connection goes back with the core's `cancel`,
            // which returns the slot as healthy.
            Some(Settled::Granted(slot, conn)) => {
                state.conns.insert(slot, conn);
                let _ = state.machine.cancel(now, waiter);
            }
            Some(Settled::TimedOut(_) | Settled::Failed(_) | Settled::Closed) => {}
        }
        this.settle(state, now, fx);
    }

    fn apply(this: &Arc<Self>, fx: Effects<M>) {
        fx.apply(this);
    }
}

/// Reports a [`Pool`]'s statistics to a [`Monitor`](crate::monitor::Monitor) under
/// `components.<name>`.
///
/// # Example
/// ```no_run
/// # async fn f(monitor: &perfopt::monitor::MonitorHandle) {
/// use std::sync::Arc;
/// use perfopt::pool::{Pool, PoolConfig, PoolSource, TcpManager};
///
/// let pool = Pool::new(TcpManager::new("127.0.0.1:5432"), PoolConfig::new(8)).unwrap();
/// monitor.add_component(Arc::new(PoolSource::new("pool", pool.clone())));
/// # }
/// ```
pub struct PoolSource<M: Manager> {
    name: &'static str,
    pool: Pool<M>,
}

impl<M: Manager> PoolSource<M> {
    /// Reports `pool` under `components.<name>`.
    pub fn new(name: &'static str, pool: Pool<M>) -> PoolSource<M> {
        PoolSource { name, pool }
    }
}

impl<M: Manager> crate::monitor::ComponentSource for PoolSource<M> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn stats(&self) -> serde_json::Value {
        serde_json::to_value(self.pool.stats()).unwrap_or_default()
    }
}

/// A pool of reusable objects: see [`ObjectManager`].
pub type ObjectPool<T> = Pool<ObjectManager<T>>;
