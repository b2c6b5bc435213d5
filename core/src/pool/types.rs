//! The pool's vocabulary: ids, answers and actions.

use core::time::Duration;

use crate::wait::{Rejection, WaiterId};

#[cfg(doc)]
use super::Pool;

/// A connection slot. The host keeps the connection of each live slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotId(pub(super) u64);

impl SlotId {
    /// The id as a number, unique among live slots (for host-side maps).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// Whether a connection can be used again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Health {
    /// It works.
    Healthy,
    /// It failed or is in an unknown state: close it.
    Broken,
}

/// Why a connection was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseCause {
    /// Returned broken, or failed its health check.
    Broken,
    /// Reached its (jittered) maximum lifetime.
    Expired,
    /// Idle longer than the idle timeout while more than `min_idle` were idle.
    Idle,
    /// The pool was closed ([`Pool::close`]): idle at that moment, or returned, created or
    /// checked after it.
    Shutdown,
}

/// How a creation failed, which decides what happens to the waiters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CreateFailure {
    /// Worth retrying (refused, reset, timed out): waiters keep waiting; creation is
    /// retried after a backoff.
    Transient,
    /// Retrying will not help soon (bad address, bad credentials, unopenable database):
    /// every queued waiter fails at once; later gets still retry after the backoff.
    Fatal,
}

/// The answer to [`Pool::get`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub enum Get {
    /// An idle connection, now in use: the host hands out the connection of this slot.
    Ready(SlotId),
    /// Queued: wait for [`PoolAction::Grant`], [`PoolAction::TimedOut`] or
    /// [`PoolAction::Failed`] with this id.
    Queued(WaiterId),
    /// Refused at once.
    Rejected(Rejection),
}

/// What [`Pool::cancel`] did: [`Cancelled::Released`](crate::wait::Cancelled::Released)
/// names the undelivered slot, returned as healthy.
pub type Cancelled = crate::wait::Cancelled<SlotId>;

/// Work for the host; drained with [`Pool::poll_action`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolAction {
    /// Open a connection for this slot, then call [`Pool::handle_created`] or
    /// [`Pool::handle_create_failed`].
    Create(SlotId),
    /// Check the slot's idle connection, then call [`Pool::handle_checked`].
    Check(SlotId),
    /// Close and drop the slot's connection; the pool has forgotten the slot.
    Close {
        /// The slot.
        slot: SlotId,
        /// Why.
        cause: CloseCause,
    },
    /// Hand the slot's connection to the waiter (it is already counted in use). If the
    /// waiter is gone, call [`Pool::cancel`] so the slot is not leaked.
    Grant {
        /// Who waited.
        waiter: WaiterId,
        /// The slot it now holds.
        slot: SlotId,
    },
    /// The waiter's deadline passed; it left the queue.
    TimedOut {
        /// Who waited.
        waiter: WaiterId,
        /// The latest creation failure since the waiter queued, if any: why it waited in vain.
        last_failure: Option<CreateFailure>,
    },
    /// A creation failed fatally; the waiter left the queue.
    Failed {
        /// Who waited.
        waiter: WaiterId,
        /// The failure.
        failure: CreateFailure,
    },
    /// The waiter left the queue refused ([`Rejection::Closed`]: the pool was closed).
    Rejected {
        /// Who waited.
        waiter: WaiterId,
        /// Why.
        rejection: Rejection,
    },
    /// The slot has been held longer than the leak threshold (reported once per checkout).
    LeakSuspected {
        /// The slot.
        slot: SlotId,
        /// How long it has been held.
        held_for: Duration,
    },
}
