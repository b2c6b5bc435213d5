//! Settings and errors of a [`Pool`](super::Pool).

use core::fmt;
use core::time::Duration;

use super::{SlotId, WaiterId};
use crate::stats::StatsError;

/// Settings of a [`Pool`](super::Pool): [`PoolConfig::new`] and the `with_*` setters, or
/// [`PoolConfig::default`] and set fields.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Most connections at once, counting those being created or checked. Default 10.
    pub max_size: usize,
    /// Idle connections kept ready (created at start and after closes). Default 0.
    pub min_idle: usize,
    /// A connection older than this is closed when next idle or returned; `None`: never.
    /// Default 30 min.
    pub max_lifetime: Option<Duration>,
    /// Each connection's lifetime is shortened by a pseudo-random amount below this, so
    /// connections created together do not expire together. Must be shorter than
    /// `max_lifetime`. Default 30 s.
    pub lifetime_jitter: Duration,
    /// An idle connection beyond `min_idle` is closed after this long unused; `None`: never.
    /// Default 10 min.
    pub idle_timeout: Option<Duration>,
    /// A connection idle at least this long is checked ([`PoolAction::Check`]) before it is
    /// handed out; `Some(ZERO)`: before every reuse; `None`: never. A connection handed out
    /// at the very instant it became idle (just created, checked or returned) is not checked.
    /// Default 500 ms.
    ///
    /// [`PoolAction::Check`]: super::PoolAction::Check
    pub check_after_idle: Option<Duration>,
    /// A connection held longer than this is reported once as a suspected leak; `None`:
    /// never. Default `None`.
    pub leak_threshold: Option<Duration>,
    /// Most waiters queued at once; more are rejected. Default 1024.
    pub max_waiters: usize,
    /// How long a get waits by default; `None`: as long as it takes (the queue is still
    /// bounded). Default 5 s. The machine takes explicit deadlines; hosts compute them with
    /// [`Pool::deadline`](super::Pool::deadline).
    pub max_wait: Option<Duration>,
    /// Longest creation the host allows; a slower one counts as a
    /// [transient](super::CreateFailure::Transient) failure. Default 5 s.
    pub create_timeout: Duration,
    /// Longest health check the host allows; a slower one closes the connection. Default
    /// 1 s.
    pub check_timeout: Duration,
    /// Most creations in progress at once. The default, 1, creates connections one after
    /// another as HikariCP does: with short checkouts, returned connections serve a burst
    /// of waiters long before a slow connect finishes, so the pool stays small.
    pub max_concurrent_creates: usize,
    /// Delay before retrying after failed creations.
    pub create_backoff: Backoff,
    /// Seed of the pseudo-random lifetime and backoff jitter (the pool reads no other
    /// randomness). Default 0.
    pub seed: u64,
    /// Span of the wait-time and hold-time windows in the statistics. Default 60 s.
    pub stats_window: Duration,
    /// Slots of those windows. Default 6.
    pub stats_slots: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_size: 10,
            min_idle: 0,
            max_lifetime: Some(Duration::from_secs(30 * 60)),
            lifetime_jitter: Duration::from_secs(30),
            idle_timeout: Some(Duration::from_secs(10 * 60)),
            check_after_idle: Some(Duration::from_millis(500)),
            leak_threshold: None,
            max_waiters: 1024,
            max_wait: Some(Duration::from_secs(5)),
            create_timeout: Duration::from_secs(5),
            check_timeout: Duration::from_secs(1),
            max_concurrent_creates: 1,
            create_backoff: Backoff::default(),
            seed: 0,
            stats_window: Duration::from_secs(60),
            stats_slots: 6,
        }
    }
}

impl PoolConfig {
    /// The default settings with at most `max_size` connections.
    pub fn new(max_size: usize) -> PoolConfig {
        PoolConfig {
            max_size,
            ..PoolConfig::default()
        }
    }

    /// Settings for a pool of at most `max_size` objects (buffers, parsers): no health
    /// checks, no lifetime, creations in parallel (they are cheap and local).
    pub fn for_objects(max_size: usize) -> PoolConfig {
        PoolConfig {
            check_after_idle: None,
            max_lifetime: None,
            max_concurrent_creates: max_size.max(1),
            ..PoolConfig::new(max_size)
        }
    }

    /// Sets [`min_idle`](PoolConfig::min_idle).
    #[must_use]
    pub fn with_min_idle(mut self, min_idle: usize) -> PoolConfig {
        self.min_idle = min_idle;
        self
    }

    /// Sets [`max_waiters`](PoolConfig::max_waiters).
    #[must_use]
    pub fn with_max_waiters(mut self, max_waiters: usize) -> PoolConfig {
        self.max_waiters = max_waiters;
        self
    }

    /// Sets [`max_wait`](PoolConfig::max_wait).
    #[must_use]
    pub fn with_max_wait(mut self, max_wait: Option<Duration>) -> PoolConfig {
        self.max_wait = max_wait;
        self
    }

    /// Sets [`max_lifetime`](PoolConfig::max_lifetime).
    #[must_use]
    pub fn with_max_lifetime(mut self, max_lifetime: Option<Duration>) -> PoolConfig {
        self.max_lifetime = max_lifetime;
        self
    }

    /// Sets [`idle_timeout`](PoolConfig::idle_timeout).
    #[must_use]
    pub fn with_idle_timeout(mut self, idle_timeout: Option<Duration>) -> PoolConfig {
        self.idle_timeout = idle_timeout;
        self
    }

    /// Sets [`check_after_idle`](PoolConfig::check_after_idle).
    #[must_use]
    pub fn with_check_after_idle(mut self, check_after_idle: Option<Duration>) -> PoolConfig {
        self.check_after_idle = check_after_idle;
        self
    }

    /// Sets [`leak_threshold`](PoolConfig::leak_threshold).
    #[must_use]
    pub fn with_leak_threshold(mut self, leak_threshold: Option<Duration>) -> PoolConfig {
        self.leak_threshold = leak_threshold;
        self
    }

    /// Sets [`create_timeout`](PoolConfig::create_timeout) and
    /// [`check_timeout`](PoolConfig::check_timeout).
    #[must_use]
    pub fn with_io_timeouts(mut self, create: Duration, check: Duration) -> PoolConfig {
        self.create_timeout = create;
        self.check_timeout = check;
        self
    }
}

/// Exponential backoff between failed creations: after `n` failures in a row the next
/// attempt waits a pseudo-random delay in `[d / 2, d]` with `d = min(max, initial × 2ⁿ⁻¹)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backoff {
    /// Delay after the first failure (upper end). Default 50 ms.
    pub initial: Duration,
    /// Longest delay. Default 5 s.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The upper end of the delay after `failures` failures in a row (`failures >= 1`).
    pub fn ceiling(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(63);
        let factor = 1u64 << doublings;
        let nanos = u64::try_from(self.initial.as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_mul(factor);
        Duration::from_nanos(nanos).min(self.max)
    }
}

/// Why a pool could not be built, or a call named a slot or waiter in the wrong state.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum PoolError {
    /// `max_size` is zero: the pool could never hand out a connection.
    MaxSizeZero,
    /// `min_idle` is above `max_size`.
    MinIdleAboveMax {
        /// `min_idle`.
        min_idle: usize,
        /// `max_size`.
        max_size: usize,
    },
    /// A duration setting (named) is zero.
    ZeroDuration(&'static str),
    /// A count setting (named) is zero.
    ZeroCount(&'static str),
    /// `lifetime_jitter` is not shorter than `max_lifetime`.
    JitterTooLarge {
        /// `lifetime_jitter`.
        jitter: Duration,
        /// `max_lifetime`.
        max_lifetime: Duration,
    },
    /// `create_backoff.initial` is above `create_backoff.max`.
    BackoffOrder {
        /// `create_backoff.initial`.
        initial: Duration,
        /// `create_backoff.max`.
        max: Duration,
    },
    /// The statistics window is invalid.
    Stats(StatsError),
    /// The slot is not in the state the call needs (for example released twice, checked
    /// while in use, or already closed).
    UnknownSlot(SlotId),
    /// The waiter is neither queued nor holding an undelivered grant.
    UnknownWaiter(WaiterId),
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::MaxSizeZero => f.write_str("max_size must be at least 1"),
            PoolError::MinIdleAboveMax { min_idle, max_size } => write!(
                f,
                "min_idle ({min_idle}) must not be above max_size ({max_size})"
            ),
            PoolError::ZeroDuration(s) => write!(f, "{s} must be longer than zero"),
            PoolError::ZeroCount(s) => write!(f, "{s} must be at least 1"),
            PoolError::JitterTooLarge {
                jitter,
                max_lifetime,
            } => write!(
                f,
                "lifetime_jitter ({jitter:?}) must be shorter than max_lifetime ({max_lifetime:?})"
            ),
            PoolError::BackoffOrder { initial, max } => write!(
                f,
                "create_backoff.initial ({initial:?}) must not be above create_backoff.max ({max:?})"
            ),
            PoolError::Stats(e) => write!(f, "statistics window: {e}"),
            PoolError::UnknownSlot(s) => {
                write!(f, "slot {} is not in the state this call needs", s.0)
            }
            PoolError::UnknownWaiter(w) => write!(f, "waiter {} is unknown", w.0),
        }
    }
}

impl core::error::Error for PoolError {}

impl PoolConfig {
    /// Checks every setting; the first bad one is named in the error.
    ///
    /// # Errors
    /// As [`Pool::new`](super::Pool::new).
    pub fn validate(&self) -> Result<(), PoolError> {
        if self.max_size == 0 {
            return Err(PoolError::MaxSizeZero);
        }
        if self.min_idle > self.max_size {
            return Err(PoolError::MinIdleAboveMax {
                min_idle: self.min_idle,
                max_size: self.max_size,
            });
        }
        for (name, d) in [
            ("max_lifetime", self.max_lifetime),
            ("idle_timeout", self.idle_timeout),
            ("leak_threshold", self.leak_threshold),
            ("create_backoff.initial", Some(self.create_backoff.initial)),
            ("stats_window", Some(self.stats_window)),
            ("max_wait", self.max_wait),
            ("create_timeout", Some(self.create_timeout)),
            ("check_timeout", Some(self.check_timeout)),
        ] {
            if d.is_some_and(|d| d.is_zero()) {
                return Err(PoolError::ZeroDuration(name));
            }
        }
        if let Some(max_lifetime) = self.max_lifetime
            && self.lifetime_jitter >= max_lifetime
        {
            return Err(PoolError::JitterTooLarge {
                jitter: self.lifetime_jitter,
                max_lifetime,
            });
        }
        if self.create_backoff.initial > self.create_backoff.max {
            return Err(PoolError::BackoffOrder {
                initial: self.create_backoff.initial,
                max: self.create_backoff.max,
            });
        }
        if self.max_concurrent_creates == 0 {
            return Err(PoolError::ZeroCount("max_concurrent_creates"));
        }
        Ok(())
    }
}

/// SplitMix64: a tiny seeded generator for jitter (not for anything secret).
#[derive(Clone, Debug)]
pub(super) struct Jitter(u64);

impl Jitter {
    pub(super) fn new(seed: u64) -> Jitter {
        Jitter(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A duration in `[0, below)` (zero if `below` is zero).
    pub(super) fn below(&mut self, below: Duration) -> Duration {
        let n = u64::try_from(below.as_nanos()).unwrap_or(u64::MAX);
        if n == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.next_u64() % n)
    }
}
