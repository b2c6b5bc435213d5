//! The driver shared by the limiter and pool hosts: the poison-ignoring lock, the queued
//! caller's future with cancel-on-drop ([`wait`]), the host's side of each waiter ([`Wait`],
//! [`deliver`]), a wake list, and the one timer task that calls a machine's
//! `handle_timeout` when its `poll_timeout` comes due.
//!
//! A host is a `Mutex` around a core machine plus one [`Wait`] entry per queued caller. A
//! call that must wait queues in the machine, inserts `Wait::Waiting`, and awaits [`wait`].
//! When the machine grants, times out or fails the waiter, the host [`deliver`]s the outcome
//! into the entry and wakes the task after the lock is released. A [`wait`] future dropped
//! before it took its outcome calls [`Host::abandon`], which hands a still-queued place or an
//! undelivered grant back to the machine (`cancel`): nothing leaks.

use std::collections::HashMap;
use std::future::poll_fn;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};

use perfopt_core::Instant;
use perfopt_core::wait::WaiterId;
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::clock;

/// The hosts' lock: `parking_lot`'s, which spins a little before it parks a thread (the
/// critical sections are a core machine's call, tens of nanoseconds), and has no
/// poisoning: the state machines keep their invariants between calls (they never panic
/// half-way through an update), so a panic elsewhere while the lock was held (a waker, a
/// user's `Drop`) leaves the state usable.
pub(crate) type Mutex<T> = parking_lot::Mutex<T>;

/// A held [`Mutex`].
pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

/// Locks `mutex`.
#[inline]
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock()
}

/// Hasher for the machines' `u64` ids (already unique; one multiply mixes them).
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by a machine id (`as_u64`).
pub(crate) type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// Wakers collected under a lock and woken after it is released (so a woken task never
/// finds the lock held by its waker). Holds one inline; allocates only beyond that.
pub(crate) struct WakeList {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl WakeList {
    #[inline]
    pub(crate) const fn new() -> WakeList {
        WakeList {
            first: None,
            rest: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, waker: Option<Waker>) {
        let Some(waker) = waker else { return };
        if self.first.is_none() {
            self.first = Some(waker);
        } else {
            self.rest.push(waker);
        }
    }

    /// Whether no waker was collected.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// Wakes every collected task.
    #[inline]
    pub(crate) fn wake_all(self) {
        if !self.is_empty() {
            self.wake_slow();
        }
    }

    #[cold]
    fn wake_slow(self) {
        let WakeList { first, rest } = self;
        if let Some(waker) = first {
            waker.wake();
        }
        for waker in rest {
            waker.wake();
        }
    }
}

/// A machine whose timers the [`Timer`] task drives.
pub(crate) trait Timed: Send + Sync + 'static {
    /// Runs what is due at the current time (`handle_timeout`, then the host's side of the
    /// resulting events) and returns the next deadline (`poll_timeout`), recording it as
    /// armed.
    fn on_timer(this: &Arc<Self>) -> Option<Instant>;
}

/// The one timer task of a machine: sleeps until the machine's next deadline, wakes early
/// when told a sooner one exists, and ends when the machine is dropped.
pub(crate) struct Timer {
    notify: Arc<Notify>,
}

impl Timer {
    pub(crate) fn new() -> Timer {
        Timer {
            notify: Arc::new(Notify::new()),
        }
    }

    /// Starts the task on `runtime`; it holds only a weak reference to the machine.
    pub(crate) fn spawn<T: Timed>(&self, runtime: &Handle, target: Weak<T>) -> JoinHandle<()> {
        let notify = Arc::clone(&self.notify);
        runtime.spawn(async move {
            let mut next: Option<Instant> = None;
            loop {
                match next {
                    Some(at) => {
                        let at = tokio::time::Instant::from_std(clock::to_std(at));
                        tokio::select! {
                            () = tokio::time::sleep_until(at) => {}
                            () = notify.notified() => {}
                        }
                    }
                    None => notify.notified().await,
                }
                let Some(target) = target.upgrade() else {
                    return;
                };
                next = T::on_timer(&target);
            }
        })
    }

    /// Tells the task that the next deadline moved earlier.
    pub(crate) fn wake(&self) {
        self.notify.notify_one();
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // The machine is going away: let the task see its weak reference die and end.
        self.notify.notify_one();
    }
}

/// Records `next` as the armed deadline if it is sooner than `armed`; returns whether the
/// timer task must be woken to re-arm.
pub(crate) fn arm(armed: &mut Option<Instant>, next: Option<Instant>) -> bool {
    match next {
        Some(n) if armed.is_none_or(|a| n < a) => {
            *armed = Some(n);
            true
        }
        _ => false,
    }
}

/// The host's side of one queued caller.
pub(crate) enum Wait<T> {
    /// Still queued; the task to wake.
    Waiting(Option<Waker>),
    /// The machine settled it (a grant, a timeout, a failure): the caller takes this.
    Done(T),
}

/// Checks (for the hosts' `validate`) that the callers still queued on the host side are
/// as many as the core machine has queued.
///
/// # Panics
/// If they differ.
#[cfg(any(test, feature = "validate"))]
pub(crate) fn assert_waiting<T>(waiters: &IdMap<Wait<T>>, queued: usize) {
    let waiting = waiters
        .values()
        .filter(|w| matches!(w, Wait::Waiting(_)))
        .count();
    assert_eq!(waiting, queued, "host waiters != queued");
}

/// Hands `outcome` to a queued `waiter` and collects its waker; gives the outcome back if
/// the waiter is no longer queued (its future is gone), so the caller can return it.
pub(crate) fn deliver<T>(
    waiters: &mut IdMap<Wait<T>>,
    waiter: WaiterId,
    outcome: T,
    wake: &mut WakeList,
) -> Result<(), T> {
    match waiters.get_mut(&waiter.as_u64()) {
        Some(entry @ Wait::Waiting(_)) => {
            if let Wait::Waiting(w) = std::mem::replace(entry, Wait::Done(outcome)) {
                wake.push(w);
            }
            Ok(())
        }
        _ => Err(outcome),
    }
}

/// A limiter or pool host, as seen by the queued caller's future.
pub(crate) trait Host: Send + Sync + Sized + 'static {
    /// What a settled waiter takes.
    type Outcome;
    /// The state under the host's lock.
    type State;
    /// Side effects collected under the lock, applied after it is released.
    type Effects;

    /// The host's lock.
    fn state(&self) -> &Mutex<Self::State>;
    /// The waiters' entries in the locked state.
    fn waiters(state: &mut Self::State) -> &mut IdMap<Wait<Self::Outcome>>;
    /// Empty effects.
    fn effects() -> Self::Effects;
    /// A caller's future was dropped before it took its outcome: `outcome` is `None` while
    /// it was still queued, or what it had been handed. Give it back to the machine.
    fn abandon(
        this: &Arc<Self>,
        state: &mut Self::State,
        waiter: WaiterId,
        outcome: Option<Self::Outcome>,
        fx: &mut Self::Effects,
    );
    /// Performs the collected effects (wakes, I/O).
    fn apply(this: &Arc<Self>, fx: Self::Effects);
}

/// Waits until the machine settles `waiter` (queued in `host`, with a `Wait::Waiting`
/// entry) and returns its outcome; `None` if the entry vanished (it cannot: only this
/// future removes it). Dropping the future before that abandons the wait.
pub(crate) async fn wait<H: Host>(host: &Arc<H>, waiter: WaiterId) -> Option<H::Outcome> {
    let mut queued = Queued {
        host,
        waiter,
        done: false,
    };
    poll_fn(|cx| queued.poll(cx)).await
}

/// A queued caller; dropping it before it finishes gives its place (or its undelivered
/// grant) back.
struct Queued<'a, H: Host> {
    host: &'a Arc<H>,
    waiter: WaiterId,
    done: bool,
}

impl<H: Host> Queued<'_, H> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<H::Outcome>> {
        let mut state = lock(self.host.state());
        let waiters = H::waiters(&mut state);
        let key = self.waiter.as_u64();
        if let Some(Wait::Waiting(w)) = waiters.get_mut(&key) {
            match w {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *w = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        self.done = true;
        Poll::Ready(match waiters.remove(&key) {
            Some(Wait::Done(outcome)) => Some(outcome),
            _ => None,
        })
    }
}

impl<H: Host> Drop for Queued<'_, H> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut fx = H::effects();
        {
            let mut state = lock(self.host.state());
            let outcome = match H::waiters(&mut state).remove(&self.waiter.as_u64()) {
                Some(Wait::Waiting(_)) => None,
                Some(Wait::Done(outcome)) => Some(outcome),
                None => return,
            };
            H::abandon(self.host, &mut state, self.waiter, outcome, &mut fx);
        }
        H::apply(self.host, fx);
    }
}
