//! [`Pooled`]: the guard of a connection taken from a [`Pool`](super::Pool).

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use perfopt_core::pool::SlotId;

use super::{Manager, Shared};

/// A connection from a [`Pool`](super::Pool); dereferences to it. Dropping the guard returns the
/// connection to the pool (or closes it if [marked broken](Pooled::mark_broken) or the
/// manager's [`is_broken`](Manager::is_broken) says so, or the pool was closed).
///
/// [`Pool::get`](super::Pool::get) borrows the pool; [`Pool::get_owned`](super::Pool::get_owned)
/// gives an [`OwnedPooled`] (`Pooled<'static, M>`), which can move into `tokio::spawn`.
pub struct Pooled<'a, M: Manager> {
    shared: Handle<'a, M>,
    slot: SlotId,
    conn: Option<M::Connection>,
    broken: bool,
}

/// A guard that owns a handle to its pool: `'static + Send`.
pub type OwnedPooled<M> = Pooled<'static, M>;

/// The guard's way back to its pool.
enum Handle<'a, M: Manager> {
    Borrowed(&'a Arc<Shared<M>>),
    Owned(Arc<Shared<M>>),
}

impl<M: Manager> Handle<'_, M> {
    fn get(&self) -> &Arc<Shared<M>> {
        match self {
            Handle::Borrowed(s) => s,
            Handle::Owned(s) => s,
        }
    }
}

impl<'a, M: Manager> Pooled<'a, M> {
    pub(super) fn new(
        shared: &'a Arc<Shared<M>>,
        slot: SlotId,
        conn: M::Connection,
    ) -> Pooled<'a, M> {
        Pooled {
            shared: Handle::Borrowed(shared),
            slot,
            conn: Some(conn),
            broken: false,
        }
    }

    /// The same connection, with a guard that owns a handle to the pool.
    pub fn into_owned(mut self) -> OwnedPooled<M> {
        OwnedPooled {
            shared: Handle::Owned(Arc::clone(self.shared.get())),
            slot: self.slot,
            conn: self.conn.take(),
            broken: self.broken,
        }
        // `self` now holds no connection: its drop does nothing.
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
        self.shared.get().give_back(self.slot, None);
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
        let shared = self.shared.get();
        let manager = &shared.manager;
        let conn = if self.broken || manager.is_broken(&mut conn) {
            drop(conn);
            None
        } else {
            manager.reset(&mut conn);
            Some(conn)
        };
        shared.give_back(self.slot, conn);
    }
}
