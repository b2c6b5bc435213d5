//! Settings and errors of a [`Pool`](super::Pool).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use perfopt_core::pool as core;

#[cfg(doc)]
use super::{Manager, Pool};

/// Settings of a [`Pool`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct PoolConfig {
    /// The core settings: sizes, lifetimes, idle timeout, health-check age, leak threshold,
    /// queue bound, creation backoff.
    pub pool: core::PoolConfig,
    /// How long [`Pool::get`] waits for a connection; `None`: as long as it takes (the
    /// queue is still bounded). Default 5 s.
    pub wait_timeout: Option<Duration>,
    /// Longest [`Manager::create`]; a slower one counts as a transient failure. Default 5 s.
    pub create_timeout: Duration,
    /// Longest [`Manager::check`]; a slower one closes the connection. Default 1 s.
    pub check_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            pool: core::PoolConfig::default(),
            wait_timeout: Some(Duration::from_secs(5)),
            create_timeout: Duration::from_secs(5),
            check_timeout: Duration::from_secs(1),
        }
    }
}

impl PoolConfig {
    /// The default settings with at most `max_size` connections.
    pub fn with_max_size(max_size: usize) -> PoolConfig {
        let mut config = PoolConfig::default();
        config.pool.max_size = max_size;
        config
    }

    /// Settings for an object pool of at most `max_size` objects: no health checks, no
    /// lifetime, creations in parallel (they are cheap and local).
    pub fn for_objects(max_size: usize) -> PoolConfig {
        let mut config = PoolConfig::with_max_size(max_size);
        config.pool.check_after_idle = None;
        config.pool.max_lifetime = None;
        config.pool.max_concurrent_creates = max_size.max(1);
        config
    }
}

/// Why [`Manager::create`] produced no connection.
#[derive(Debug)]
#[non_exhaustive]
pub enum CreateError<E> {
    /// The manager's error.
    Manager(E),
    /// It took longer than [`PoolConfig::create_timeout`].
    TimedOut(Duration),
}

impl<E: fmt::Display> fmt::Display for CreateError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CreateError::Manager(e) => e.fmt(f),
            CreateError::TimedOut(d) => write!(f, "took longer than create_timeout ({d:?})"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for CreateError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CreateError::Manager(e) => Some(e),
            CreateError::TimedOut(_) => None,
        }
    }
}

/// Why a pool could not be built or a [`Pool::get`] got no connection. `E` is the
/// manager's error.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error<E> {
    /// A setting is invalid; the core error names it (`max_size`, `min_idle`, a zero
    /// timeout…).
    Config(core::PoolError),
    /// The pool was built outside a tokio runtime (it needs one for its tasks and timer).
    NoRuntime,
    /// The wait queue was full (backpressure).
    QueueFull {
        /// What the pool connects to.
        target: Arc<str>,
    },
    /// No idle connection now, and the call would not wait ([`Pool::try_get`]).
    NoIdle {
        /// What the pool connects to.
        target: Arc<str>,
    },
    /// No connection within the wait deadline.
    Timeout {
        /// What the pool connects to.
        target: Arc<str>,
        /// How long the caller waited.
        waited: Duration,
        /// The last creation failure while it waited, if any: why it waited in vain.
        last_error: Option<Arc<CreateError<E>>>,
    },
    /// A creation failed in a way retrying will not fix soon (a bad address, an unopenable
    /// database); waiters fail at once.
    Create {
        /// What the pool connects to.
        target: Arc<str>,
        /// The failure.
        error: Arc<CreateError<E>>,
    },
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => write!(f, "invalid pool setting: {e}"),
            Error::NoRuntime => f.write_str("a pool must be built inside a tokio runtime"),
            Error::QueueFull { target } => {
                write!(
                    f,
                    "no connection to {target}: the pool's wait queue is full"
                )
            }
            Error::NoIdle { target } => write!(f, "no idle connection to {target}"),
            Error::Timeout {
                target,
                waited,
                last_error: Some(e),
            } => write!(
                f,
                "no connection to {target} within {waited:?}; last attempt failed: {e}"
            ),
            Error::Timeout {
                target,
                waited,
                last_error: None,
            } => write!(
                f,
                "no connection to {target} within {waited:?}: all connections in use"
            ),
            Error::Create { target, error } => {
                write!(f, "cannot connect to {target}: {error}")
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Config(e) => Some(e),
            Error::Timeout {
                last_error: Some(e),
                ..
            }
            | Error::Create { error: e, .. } => Some(&**e),
            _ => None,
        }
    }
}
