//! Errors of a [`Pool`](super::Pool) (its settings are core's
//! [`PoolConfig`](super::PoolConfig)).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use perfopt_core::pool as core;

#[cfg(doc)]
use super::{Manager, Pool};

/// Why [`Manager::create`] produced no connection.
#[derive(Debug)]
#[non_exhaustive]
pub enum CreateError<E> {
    /// The manager's error.
    Manager(E),
    /// It took longer than [`PoolConfig::create_timeout`](super::PoolConfig::create_timeout).
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
pub enum GetError<E> {
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
    /// The pool was closed ([`Pool::close`]).
    Closed {
        /// What the pool connects to.
        target: Arc<str>,
    },
    /// No idle connection now, and the call would not wait ([`Pool::try_get`]).
    WouldWait {
        /// What the pool connects to.
        target: Arc<str>,
    },
    /// No connection within the wait deadline.
    TimedOut {
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

impl<E: fmt::Display> fmt::Display for GetError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::Config(e) => write!(f, "invalid pool setting: {e}"),
            GetError::NoRuntime => f.write_str("a pool must be built inside a tokio runtime"),
            GetError::QueueFull { target } => {
                write!(
                    f,
                    "no connection to {target}: the pool's wait queue is full"
                )
            }
            GetError::WouldWait { target } => write!(f, "no idle connection to {target}"),
            GetError::Closed { target } => write!(f, "the pool of {target} is closed"),
            GetError::TimedOut {
                target,
                waited,
                last_error: Some(e),
            } => write!(
                f,
                "no connection to {target} within {waited:?}; last attempt failed: {e}"
            ),
            GetError::TimedOut {
                target,
                waited,
                last_error: None,
            } => write!(
                f,
                "no connection to {target} within {waited:?}: all connections in use"
            ),
            GetError::Create { target, error } => {
                write!(f, "cannot connect to {target}: {error}")
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for GetError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GetError::Config(e) => Some(e),
            GetError::TimedOut {
                last_error: Some(e),
                ..
            }
            | GetError::Create { error: e, .. } => Some(&**e),
            _ => None,
        }
    }
}
