//! [`Pooled`]: the guard of a connection taken from a [`Pool`](super::Pool).

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use perfopt_core::pool::SlotId;

use super::{Manager, Shared};

/// A connection from a [`Pool`](super::Pool); dereferences to it. Dropping the guard returns the
/// connection to the pool (or closes it if [marked broken](Pooled::mark_broken) or the
/// manager's [`is_broken`](Manager::is_broken) says so).
pub struct Pooled<'a, M: Manager> {
    shared: &'a Arc<Shared<M>>,
    slot: SlotId,
    conn: Option<M::Connection>,
    broken: bool,
}

impl<'a, M: Manager> Pooled<'a, M> {
    pub(super) fn new(
        shared: &'a Arc<Shared<M>>,
        slot: SlotId,
        conn: M::Connection,
    ) -> Pooled<'a, M> {
        Pooled {
            shared,
            slot,
            conn: Some(conn),
            broken: false,
        }
    }

    /// Closes the connection instead of reusing it when the guard is dropped (after an
    /// I/O error, a protocol desync, an aborted transaction).
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }

    /// Takes the connection out of the pool for good; its slot is freed (counted as closed
    /// broken in the statistics).
    pub fn detach(mut self) -> M::Connection {
        let conn = self.conn.take();
        self.shared.give_back(self.slot, None);
        // The guard holds its connection until dropped or detached, once.
        conn.expect("a live guard holds its connection")
    }
}

impl<M: Manager> Deref for Pooled<'_, M> {
    type Target = M::Connection;

    fn deref(&self) -> &M::Connection {
        // The connection is taken only by `detach` (which consumes the guard) and `drop`.
        self.conn
            .as_ref()
            .expect("a live guard holds its connection")
    }
}

impl<M: Manager> DerefMut for Pooled<'_, M> {
    fn deref_mut(&mut self) -> &mut M::Connection {
        // As in `deref`.
        self.conn
            .as_mut()
            .expect("a live guard holds its connection")
    }
}

impl<M: Manager> fmt::Debug for Pooled<'_, M>
where
    M::Connection: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pooled")
            .field("slot", &self.slot)
            .field("connection", &self.conn)
            .finish()
    }
}

impl<M: Manager> Drop for Pooled<'_, M> {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return; // detached
        };
        let manager = &self.shared.manager;
        let conn = if self.broken || manager.is_broken(&mut conn) {
            drop(conn);
            None
        } else {
            manager.reset(&mut conn);
            Some(conn)
        };
        self.shared.give_back(self.slot, conn);
    }
}
