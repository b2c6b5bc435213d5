//! Pieces shared by the limiter and pool drivers: an id-keyed map, a wake list, and the one
//! timer task that calls a machine's `handle_timeout` when its `poll_timeout` comes due.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::Waker;

use perfopt_core::Instant;
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::clock;

/// Locks `mutex`, ignoring poisoning: the state machines keep their invariants between calls
/// (they never panic half-way through an update), so a panic elsewhere while the lock was
/// held (a waker, a user's `Drop`) leaves the state usable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
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
