//! Connection-pool bookkeeping: slots, a FIFO wait queue with deadlines, lifetimes, health
//! checks and leak detection.
//!
//! [`Pool`] decides *when* to create, check, hand out and close connections; the host owns
//! the connections themselves (in a map from [`SlotId`]) and performs the I/O the pool asks
//! for through [`PoolAction`]s. Each slot is in one state:
//!
//! ```text
//!             Create                 created                 get / grant
//!  (none) ─────────────▶ Creating ─────────────▶ Idle ◀───────────────────────▶ InUse
//!                           │ failed             │  ▲  healthy       release     │
//!                           ▼                    ▼  │                            │
//!                  backoff, then retry         Checking ── broken ──▶ Close ◀────┘
//!                                            (idle ≥ check_after_idle)  (broken, expired,
//!                                                                        idle beyond min_idle)
//! ```
//!
//! The pool never creates more connections than waiters can use: a creation starts only
//! while the queued waiters outnumber the connections already being created or checked (or
//! to keep `min_idle` idle connections), and by default one creation runs at a time, as in
//! HikariCP. A burst of short requests is then served by returned connections long before
//! a slow connect completes, instead of opening one connection per waiter.
//!
//! This module does **not** open sockets, read a clock or wake tasks. See [`Pool`] for the
//! calling contract.

mod config;
mod stats;
mod types;

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::time::Duration;

pub use config::{Backoff, PoolConfig, PoolError};
pub use stats::PoolStats;
pub use types::{Cancelled, CloseCause, CreateFailure, Get, Health, PoolAction, SlotId};

pub use crate::wait::{Rejection, WaiterId};

use crate::Instant;
use crate::stats::Window;
use crate::wait::WaitQueue;
use crate::wait::slab::Slab;
use config::Jitter;
use stats::Counters;

/// A slot's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Creating,
    Idle {
        since: Instant,
    },
    Checking,
    InUse {
        since: Instant,
        /// The waiter it was granted to, until released (so a cancel can return it).
        holder: Option<u64>,
        leak_reported: bool,
    },
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    state: State,
    /// Instant::MAX until created, or without a lifetime.
    expires_at: Instant,
    /// Checkouts so far.
    uses: u64,
}

/// The connection-pool state machine. See the [module documentation](self).
///
/// # Calling contract
/// - **Mutating calls** take `now`: [`get`](Pool::get), [`release`](Pool::release),
///   [`cancel`](Pool::cancel), [`handle_created`](Pool::handle_created),
///   [`handle_create_failed`](Pool::handle_create_failed),
///   [`handle_checked`](Pool::handle_checked) and [`handle_timeout`](Pool::handle_timeout).
///   [`Pool::new`] takes `now` too and already asks for the `min_idle` connections.
/// - **Draining**: after any mutating call, drain [`poll_action`](Pool::poll_action) until
///   `None` and perform each [`PoolAction`] in order. Every `Create` and `Check` must be
///   answered (late is fine); a `Grant` the host cannot deliver must be handed back with
///   [`cancel`](Pool::cancel) — that is how a dropped `get` future never leaks a slot.
/// - **Timers**: call [`handle_timeout`](Pool::handle_timeout) once the clock reaches
///   [`poll_timeout`](Pool::poll_timeout) (waiter deadlines, lifetimes, idle timeouts, leak
///   thresholds, creation backoff). The value may be early, never late: a spurious call is
///   harmless.
/// - **Time** never goes back between calls; if it does, the pool uses the latest instant
///   it has seen. A stale or wrong-state id is an error, never a panic.
///
/// # Example
/// ```
/// use perfopt_core::Instant;
/// use perfopt_core::pool::{Get, Health, Pool, PoolAction, PoolConfig};
///
/// let mut config = PoolConfig::default();
/// config.max_size = 2;
/// let mut pool = Pool::new(config, Instant::ZERO)?;
/// // Nothing idle: the get waits and the pool asks for a connection.
/// let Get::Queued(waiter) = pool.get(Instant::ZERO, Instant::from_secs(1)) else { panic!() };
/// let Some(PoolAction::Create(slot)) = pool.poll_action() else { panic!() };
/// // ... the host connects ...
/// pool.handle_created(Instant::from_millis(20), slot)?;
/// assert_eq!(pool.poll_action(), Some(PoolAction::Grant { waiter, slot }));
/// pool.release(Instant::from_millis(25), slot, Health::Healthy)?;
/// // The next get is served at once by the idle connection.
/// assert_eq!(pool.get(Instant::from_millis(30), Instant::from_secs(1)), Get::Ready(slot));
/// # Ok::<(), perfopt_core::pool::PoolError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Pool {
    config: PoolConfig,
    slots: Slab<Slot>,
    /// Idle slot keys by `since`, oldest first; gets take the newest (LIFO), so surplus
    /// connections age out through the idle timeout.
    idle: Vec<u64>,
    creating: usize,
    checking: usize,
    in_use: usize,
    /// Waiters; a granted one holds its slot's key until the slot is returned.
    waiters: WaitQueue<u64>,
    actions: VecDeque<PoolAction>,
    now: Instant,
    failures_in_row: u32,
    next_create_at: Instant,
    last_failure: Option<(Instant, CreateFailure)>,
    /// No later than the earliest slot timer (lifetime, idle timeout, leak, backoff);
    /// recomputed exactly by `handle_timeout`, only lowered in between.
    slot_timer: Option<Instant>,
    jitter: Jitter,
    /// Closed by [`Pool::close`]: nothing is handed out or created any more.
    closed: bool,
    counters: Counters,
    wait: Window,
    held: Window,
}

impl Pool {
    /// A pool with `config`, starting at `now`; asks at once for the `min_idle`
    /// connections (drain [`poll_action`](Pool::poll_action)).
    ///
    /// # Errors
    /// A [`PoolError`] naming the first invalid setting: `max_size` zero, `min_idle` above
    /// `max_size`, a zero timeout or lifetime, jitter not below the lifetime, an inverted
    /// backoff, zero concurrent creations, or a bad statistics window.
    pub fn new(config: PoolConfig, now: Instant) -> Result<Pool, PoolError> {
        config.validate()?;
        let wait =
            Window::new(config.stats_window, config.stats_slots).map_err(PoolError::Stats)?;
        let mut pool = Pool {
            waiters: WaitQueue::new(config.max_waiters),
            jitter: Jitter::new(config.seed),
            config,
            slots: Slab::new(),
            idle: Vec::new(),
            creating: 0,
            checking: 0,
            in_use: 0,
            actions: VecDeque::new(),
            now,
            failures_in_row: 0,
            next_create_at: Instant::ZERO,
            last_failure: None,
            slot_timer: None,
            closed: false,
            counters: Counters::default(),
            held: wait.clone(),
            wait,
        };
        pool.dispatch(now);
        Ok(pool)
    }

    /// Asks for a connection, waiting until `deadline` at the latest ([`Instant::MAX`]: no
    /// deadline).
    ///
    /// Served at once by the most recently returned idle connection if nobody waits ahead
    /// and it needs no health check. Otherwise the caller queues (FIFO) unless `deadline`
    /// has passed ([`Rejection::WouldWait`]) or the queue is full ([`Rejection::QueueFull`]).
    pub fn get(&mut self, now: Instant, deadline: Instant) -> Get {
        let now = self.observe(now);
        if self.closed {
            self.counters.rejected += 1;
            return Get::Rejected(Rejection::Closed);
        }
        if self.waiters.queued() == 0 {
            while let Some(&top) = self.idle.last() {
                let Some(&Slot {
                    state: State::Idle { since },
                    expires_at,
                    ..
                }) = self.slots.get(top)
                else {
                    unreachable!("the idle list holds idle slots only");
                };
                if now >= expires_at {
                    self.close_slot(top, CloseCause::Expired);
                    continue;
                }
                if self.needs_check(since, now) {
                    break;
                }
                self.idle.pop();
                self.counters.gets_direct += 1;
                self.checkout(now, top, None);
                self.dispatch(now);
                return Get::Ready(SlotId(top));
            }
        }
        let get = match self.waiters.enqueue(now, deadline) {
            Ok(waiter) => Get::Queued(waiter),
            Err(rejection) => {
                self.counters.rejected += 1;
                Get::Rejected(rejection)
            }
        };
        self.dispatch(now);
        get
    }

    /// Returns a slot handed out by [`get`](Pool::get) or a grant. A healthy connection
    /// within its lifetime goes to the head waiter or back to idle; otherwise it is closed.
    ///
    /// # Errors
    /// [`PoolError::UnknownSlot`] if the slot is not in use (returned twice, never handed
    /// out, or closed); nothing changes then.
    pub fn release(&mut self, now: Instant, slot: SlotId, health: Health) -> Result<(), PoolError> {
        let now = self.observe(now);
        let Some(&Slot {
            state: State::InUse { since, holder, .. },
            expires_at,
            ..
        }) = self.slots.get(slot.0)
        else {
            return Err(PoolError::UnknownSlot(slot));
        };
        self.held
            .record(now, nanos(now.saturating_duration_since(since)));
        if let Some(w) = holder {
            self.waiters.remove_granted(w);
        }
        match health {
            Health::Broken => self.close_slot(slot.0, CloseCause::Broken),
            Health::Healthy if now >= expires_at => self.close_slot(slot.0, CloseCause::Expired),
            Health::Healthy => {
                self.leave_state(slot.0);
                self.make_idle(now, slot.0);
            }
        }
        self.dispatch(now);
        Ok(())
    }

    /// The host gave up on `waiter` (its future was dropped). A queued waiter leaves the
    /// queue; a waiter already granted a slot the host had not delivered has that slot
    /// returned as healthy. Either way nothing leaks.
    ///
    /// # Errors
    /// [`PoolError::UnknownWaiter`] if the waiter is neither queued nor holding an
    /// undelivered grant; nothing changes then.
    pub fn cancel(&mut self, now: Instant, waiter: WaiterId) -> Result<Cancelled, PoolError> {
        let now = self.observe(now);
        let cancelled = match self.waiters.cancel(waiter.0) {
            Some(crate::wait::Cancelled::Dequeued) => Cancelled::Dequeued,
            Some(crate::wait::Cancelled::Released(slot)) => {
                self.release(now, SlotId(slot), Health::Healthy)?;
                Cancelled::Released(SlotId(slot))
            }
            None => return Err(PoolError::UnknownWaiter(waiter)),
        };
        self.counters.cancelled += 1;
        Ok(cancelled)
    }

    /// The connection for `slot` (asked for by [`PoolAction::Create`]) is open.
    ///
    /// # Errors
    /// [`PoolError::UnknownSlot`] if the slot is not being created.
    pub fn handle_created(&mut self, now: Instant, slot: SlotId) -> Result<(), PoolError> {
        let now = self.observe(now);
        self.expect(slot, State::Creating)?;
        self.leave_state(slot.0);
        self.failures_in_row = 0;
        self.next_create_at = now;
        self.counters.created += 1;
        let expires_at = match self.config.max_lifetime {
            Some(lifetime) => {
                let cut = self.jitter.below(self.config.lifetime_jitter);
                now.saturating_add(lifetime.saturating_sub(cut))
            }
            None => Instant::MAX,
        };
        if let Some(s) = self.slots.get_mut(slot.0) {
            s.expires_at = expires_at;
        }
        self.make_idle(now, slot.0);
        self.dispatch(now);
        Ok(())
    }

    /// Opening the connection for `slot` failed. The slot is forgotten (nothing to close);
    /// the next creation waits for the [`Backoff`]; a [`CreateFailure::Fatal`] failure
    /// fails every queued waiter at once.
    ///
    /// # Errors
    /// [`PoolError::UnknownSlot`] if the slot is not being created.
    pub fn handle_create_failed(
        &mut self,
        now: Instant,
        slot: SlotId,
        failure: CreateFailure,
    ) -> Result<(), PoolError> {
        let now = self.observe(now);
        self.expect(slot, State::Creating)?;
        self.leave_state(slot.0);
        self.slots.remove(slot.0);
        self.counters.create_failures += 1;
        self.failures_in_row = self.failures_in_row.saturating_add(1);
        let ceiling = self.config.create_backoff.ceiling(self.failures_in_row);
        let half = ceiling / 2;
        let delay = half + self.jitter.below(ceiling - half + Duration::from_nanos(1));
        self.next_create_at = now.saturating_add(delay);
        self.last_failure = Some((now, failure));
        if failure == CreateFailure::Fatal {
            let (counters, actions) = (&mut self.counters, &mut self.actions);
            self.waiters.drain(|waiter| {
                counters.failed += 1;
                actions.push_back(PoolAction::Failed { waiter, failure });
            });
        }
        self.dispatch(now);
        Ok(())
    }

    /// The health check of `slot` (asked for by [`PoolAction::Check`]) finished. A healthy
    /// connection serves the head waiter; a broken one is closed.
    ///
    /// # Errors
    /// [`PoolError::UnknownSlot`] if the slot is not being checked.
    pub fn handle_checked(
        &mut self,
        now: Instant,
        slot: SlotId,
        health: Health,
    ) -> Result<(), PoolError> {
        let now = self.observe(now);
        self.expect(slot, State::Checking)?;
        match health {
            Health::Healthy => {
                self.leave_state(slot.0);
                self.make_idle(now, slot.0);
            }
            Health::Broken => {
                self.counters.check_failures += 1;
                self.close_slot(slot.0, CloseCause::Broken);
            }
        }
        self.dispatch(now);
        Ok(())
    }

    /// Runs every timer due at `now`: waiter deadlines, lifetimes of idle connections, the
    /// idle timeout, leak thresholds and the creation backoff. Harmless when nothing is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.observe(now);
        let (counters, actions, last) = (&mut self.counters, &mut self.actions, self.last_failure);
        self.waiters.expire(now, |w, enqueued| {
            time_out(counters, actions, last, w, enqueued)
        });
        let expired: Vec<u64> = self
            .idle
            .iter()
            .copied()
            .filter(|&k| self.slots.get(k).is_some_and(|s| now >= s.expires_at))
            .collect();
        for key in expired {
            self.close_slot(key, CloseCause::Expired);
        }
        if let Some(timeout) = self.config.idle_timeout {
            while self.idle.len() > self.config.min_idle {
                let oldest = self.idle[0];
                match self.slots.get(oldest) {
                    Some(Slot {
                        state: State::Idle { since },
                        ..
                    }) if since.saturating_add(timeout) <= now => {
                        self.close_slot(oldest, CloseCause::Idle);
                    }
                    _ => break,
                }
            }
        }
        if let Some(threshold) = self.config.leak_threshold {
            for (key, slot) in self.slots.iter_mut() {
                if let State::InUse {
                    since,
                    leak_reported: reported @ false,
                    ..
                } = &mut slot.state
                    && since.saturating_add(threshold) <= now
                {
                    *reported = true;
                    self.counters.leaks += 1;
                    self.actions.push_back(PoolAction::LeakSuspected {
                        slot: SlotId(key),
                        held_for: now.saturating_duration_since(*since),
                    });
                }
            }
        }
        self.dispatch(now);
        self.slot_timer = self.exact_slot_timer();
    }

    /// The next action for the host, oldest first.
    pub fn poll_action(&mut self) -> Option<PoolAction> {
        self.actions.pop_front()
    }

    /// When [`handle_timeout`](Pool::handle_timeout) must next be called, or `None` if no
    /// timer is set. May be early (a spurious call is harmless), never late.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let waiter = self.waiters.next_deadline();
        match (waiter, self.slot_timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The deadline of a get that starts waiting at `now`: `now` +
    /// [`max_wait`](PoolConfig::max_wait), or [`Instant::MAX`] without one.
    #[inline]
    pub fn deadline(&self, now: Instant) -> Instant {
        self.config
            .max_wait
            .map_or(Instant::MAX, |d| now.saturating_add(d))
    }

    /// The settings.
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// Connections idle now.
    pub fn idle(&self) -> usize {
        self.idle.len()
    }

    /// Connections handed out now (grants not yet delivered included).
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    /// All slots: idle, in use, being created or checked.
    pub fn size(&self) -> usize {
        self.slots.len()
    }

    /// Waiters queued now.
    pub fn waiting(&self) -> usize {
        self.waiters.queued()
    }

    /// Closes the pool: every queued waiter leaves refused ([`PoolAction::Rejected`] with
    /// [`Rejection::Closed`]), idle connections close ([`CloseCause::Shutdown`]), later gets
    /// are refused, and connections in use, being created or checked close when they come
    /// back. Closing twice is harmless.
    pub fn close(&mut self, now: Instant) {
        let now = self.observe(now);
        self.closed = true;
        let (counters, actions) = (&mut self.counters, &mut self.actions);
        self.waiters.drain(|waiter| {
            counters.rejected += 1;
            actions.push_back(PoolAction::Rejected {
                waiter,
                rejection: Rejection::Closed,
            });
        });
        while let Some(&key) = self.idle.last() {
            self.close_slot(key, CloseCause::Shutdown);
        }
        self.dispatch(now);
    }

    /// Whether [`close`](Pool::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Statistics as of `now`.
    pub fn stats(&self, now: Instant) -> PoolStats {
        let now = now.max(self.now);
        let c = &self.counters;
        PoolStats {
            max_size: self.config.max_size,
            min_idle: self.config.min_idle,
            idle: self.idle.len(),
            in_use: self.in_use,
            creating: self.creating,
            checking: self.checking,
            waiting: self.waiters.queued(),
            max_waiters: self.waiters.max_waiters(),
            gets_direct: c.gets_direct,
            gets_waited: c.gets_waited,
            rejected: c.rejected,
            timed_out: c.timed_out,
            failed: c.failed,
            cancelled: c.cancelled,
            created: c.created,
            create_failures: c.create_failures,
            reused: c.reused,
            checks: c.checks,
            check_failures: c.check_failures,
            closed_broken: c.closed_broken,
            closed_expired: c.closed_expired,
            closed_idle: c.closed_idle,
            closed_shutdown: c.closed_shutdown,
            leaks: c.leaks,
            wait_ms: self.wait.summary(now, 1e6),
            held_ms: self.held.summary(now, 1e6),
        }
    }

    /// Records `now` as the latest instant and returns the instant to use.
    fn observe(&mut self, now: Instant) -> Instant {
        if now > self.now {
            self.now = now;
        }
        self.now
    }

    fn expect(&self, slot: SlotId, state: State) -> Result<(), PoolError> {
        match self.slots.get(slot.0) {
            Some(s) if s.state == state => Ok(()),
            _ => Err(PoolError::UnknownSlot(slot)),
        }
    }

    fn needs_check(&self, since: Instant, now: Instant) -> bool {
        let idle_for = now.saturating_duration_since(since);
        self.config
            .check_after_idle
            .is_some_and(|after| !idle_for.is_zero() && idle_for >= after)
    }

    /// Undoes the bookkeeping of the slot's current state (counters, idle list).
    fn leave_state(&mut self, key: u64) {
        match self.slots.get(key).map(|s| s.state) {
            Some(State::Creating) => self.creating -= 1,
            Some(State::Checking) => self.checking -= 1,
            Some(State::InUse { .. }) => self.in_use -= 1,
            Some(State::Idle { .. }) => {
                if let Some(i) = self.idle.iter().rposition(|&k| k == key) {
                    self.idle.remove(i);
                }
            }
            None => {}
        }
    }

    /// Closes a created slot for `cause` and tells the host.
    fn close_slot(&mut self, key: u64, cause: CloseCause) {
        self.leave_state(key);
        self.slots.remove(key);
        match cause {
            CloseCause::Broken => self.counters.closed_broken += 1,
            CloseCause::Expired => self.counters.closed_expired += 1,
            CloseCause::Idle => self.counters.closed_idle += 1,
            CloseCause::Shutdown => self.counters.closed_shutdown += 1,
        }
        self.actions.push_back(PoolAction::Close {
            slot: SlotId(key),
            cause,
        });
    }

    /// Puts a slot (whose previous state was left) on top of the idle list.
    fn make_idle(&mut self, now: Instant, key: u64) {
        if self.closed {
            // Its previous state was left already: forget the slot and close it.
            self.slots.remove(key);
            self.counters.closed_shutdown += 1;
            self.actions.push_back(PoolAction::Close {
                slot: SlotId(key),
                cause: CloseCause::Shutdown,
            });
            return;
        }
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        slot.state = State::Idle { since: now };
        let expires_at = slot.expires_at;
        self.idle.push(key);
        if expires_at < Instant::MAX {
            self.note_timer(expires_at);
        }
        if let Some(timeout) = self.config.idle_timeout
            && self.idle.len() > self.config.min_idle
            && let Some(State::Idle { since }) = self.slots.get(self.idle[0]).map(|s| s.state)
        {
            self.note_timer(since.saturating_add(timeout));
        }
    }

    /// Hands out a slot (whose previous state was left).
    fn checkout(&mut self, now: Instant, key: u64, holder: Option<u64>) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        slot.state = State::InUse {
            since: now,
            holder,
            leak_reported: false,
        };
        slot.uses += 1;
        if slot.uses > 1 {
            self.counters.reused += 1;
        }
        self.in_use += 1;
        if let Some(threshold) = self.config.leak_threshold {
            self.note_timer(now.saturating_add(threshold));
        }
    }

    fn note_timer(&mut self, at: Instant) {
        self.slot_timer = Some(self.slot_timer.map_or(at, |t| t.min(at)));
    }

    /// Serves queued waiters from idle slots (checking stale ones first), then starts the
    /// creations the waiters and `min_idle` need.
    fn dispatch(&mut self, now: Instant) {
        loop {
            let (counters, actions, last) =
                (&mut self.counters, &mut self.actions, self.last_failure);
            let head = self.waiters.head(now, |w, enqueued| {
                time_out(counters, actions, last, w, enqueued)
            });
            if head.is_none() {
                break;
            }
            let Some(&top) = self.idle.last() else {
                break;
            };
            let Some(&Slot {
                state: State::Idle { since },
                expires_at,
                ..
            }) = self.slots.get(top)
            else {
                unreachable!("the idle list holds idle slots only");
            };
            if now >= expires_at {
                self.close_slot(top, CloseCause::Expired);
                continue;
            }
            if self.needs_check(since, now) {
                if self.checking >= self.waiters.queued() {
                    break; // every waiter already has a check in progress
                }
                self.leave_state(top);
                if let Some(s) = self.slots.get_mut(top) {
                    s.state = State::Checking;
                }
                self.checking += 1;
                self.counters.checks += 1;
                self.actions.push_back(PoolAction::Check(SlotId(top)));
                continue;
            }
            self.leave_state(top);
            let Some((waiter, enqueued)) = self.waiters.grant_head(top) else {
                break;
            };
            self.wait
                .record(now, nanos(now.saturating_duration_since(enqueued)));
            self.counters.gets_waited += 1;
            self.checkout(now, top, Some(waiter.as_u64()));
            self.actions.push_back(PoolAction::Grant {
                waiter,
                slot: SlotId(top),
            });
        }
        self.maybe_create(now);
    }

    /// Starts creations while waiters outnumber the connections on their way (or idle is
    /// below `min_idle`), within `max_size`, `max_concurrent_creates` and the backoff.
    fn maybe_create(&mut self, now: Instant) {
        while self.wants_creation() {
            if now < self.next_create_at {
                self.note_timer(self.next_create_at);
                return;
            }
            let key = self.slots.insert(Slot {
                state: State::Creating,
                expires_at: Instant::MAX,
                uses: 0,
            });
            self.creating += 1;
            self.actions.push_back(PoolAction::Create(SlotId(key)));
        }
    }

    fn wants_creation(&self) -> bool {
        if self.closed {
            return false;
        }
        let c = &self.config;
        if self.creating >= c.max_concurrent_creates || self.slots.len() >= c.max_size {
            return false;
        }
        let for_waiters = self.waiters.queued() > self.creating + self.checking;
        let for_idle = self.idle.len() + self.creating < c.min_idle;
        for_waiters || for_idle
    }

    /// The earliest slot timer, computed from scratch.
    fn exact_slot_timer(&self) -> Option<Instant> {
        let mut at: Option<Instant> = None;
        let mut note = |t: Instant| at = Some(at.map_or(t, |a| a.min(t)));
        for &key in &self.idle {
            if let Some(s) = self.slots.get(key)
                && s.expires_at < Instant::MAX
            {
                note(s.expires_at);
            }
        }
        if let (Some(timeout), Some(&oldest)) = (self.config.idle_timeout, self.idle.first())
            && self.idle.len() > self.config.min_idle
            && let Some(State::Idle { since }) = self.slots.get(oldest).map(|s| s.state)
        {
            note(since.saturating_add(timeout));
        }
        if let Some(threshold) = self.config.leak_threshold {
            for (_, s) in self.slots.iter() {
                if let State::InUse {
                    since,
                    leak_reported: false,
                    ..
                } = s.state
                {
                    note(since.saturating_add(threshold));
                }
            }
        }
        if self.wants_creation() && self.now < self.next_create_at {
            note(self.next_create_at);
        }
        at
    }
}

/// Counts and reports waiter `waiter` (queued at `enqueued`) whose deadline passed, with
/// the latest creation failure since it queued: why it waited in vain.
fn time_out(
    counters: &mut Counters,
    actions: &mut VecDeque<PoolAction>,
    last_failure: Option<(Instant, CreateFailure)>,
    waiter: WaiterId,
    enqueued: Instant,
) {
    counters.timed_out += 1;
    let last_failure = last_failure
        .filter(|&(at, _)| at >= enqueued)
        .map(|(_, f)| f);
    actions.push_back(PoolAction::TimedOut {
        waiter,
        last_failure,
    });
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(any(test, feature = "validate"))]
mod validate;

#[cfg(test)]
mod tests;
