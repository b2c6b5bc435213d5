//! [`ObjectManager`]: a pool of reusable objects (buffers, parsers, scratch space) on the same
//! core machine as the connection pools — the seed's memory-pool exercise.

use std::convert::Infallible;
use std::fmt;

use super::Manager;

/// Makes objects with a function and resets them on return; objects never fail a check.
///
/// With [`PoolConfig::for_objects`](super::PoolConfig::for_objects) the pool bounds how
/// many exist (`max_size`), keeps `min_idle` ready, drops those idle beyond the idle timeout
/// (reaping memory after a burst), and with a `leak_threshold` reports objects held too
/// long.
pub struct ObjectManager<T> {
    create: Box<dyn Fn() -> T + Send + Sync>,
    reset: Box<dyn Fn(&mut T) + Send + Sync>,
}

impl<T> ObjectManager<T> {
    /// Objects made by `create` and prepared for reuse by `reset` (e.g. `Vec::clear`).
    pub fn new(
        create: impl Fn() -> T + Send + Sync + 'static,
        reset: impl Fn(&mut T) + Send + Sync + 'static,
    ) -> ObjectManager<T> {
        ObjectManager {
            create: Box::new(create),
            reset: Box::new(reset),
        }
    }
}

impl<T> fmt::Debug for ObjectManager<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectManager")
            .field("object", &std::any::type_name::<T>())
            .finish()
    }
}

impl<T: Send + 'static> Manager for ObjectManager<T> {
    type Connection = T;
    type Error = Infallible;

    fn target(&self) -> String {
        format!("objects of {}", std::any::type_name::<T>())
    }

    async fn create(&self) -> Result<T, Infallible> {
        Ok((self.create)())
    }

    async fn check(&self, _object: &mut T) -> Result<(), Infallible> {
        Ok(())
    }

    fn reset(&self, object: &mut T) {
        (self.reset)(object);
    }
}
