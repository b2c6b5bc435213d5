//! perfopt-core: the sans-IO heart of perfopt.
//!
//! This crate holds pure state machines and data models — log-linear histograms and sliding
//! windows ([`stats`]), alert rules with hysteresis ([`rules`]), the versioned report
//! ([`report`]), the cache ([`cache`]), and the limiter ([`limiter`]) and pool ([`pool`])
//! on one wait queue ([`wait`]). It does **not** read a clock, touch the network or the file system, spawn
//! tasks or allocate threads: it is `#![no_std]` + `alloc` and builds for
//! `wasm32-unknown-unknown`. Hosts (the tokio binary `perfopt`, the browser viewer
//! `perfopt-web`) read the clock in one file each and pass `now` in.
//!
//! # The calling contract
//! Every machine follows one shape: `handle_*(now, input)` mutates, `poll_*()` drains the
//! actions and events the machine produced, and `poll_timeout()` (where a machine has timers)
//! says when the host must call `handle_timeout(now)`. Time never goes back between calls;
//! a spurious or late timeout is harmless.
//!
//! # Naming (one vocabulary for the limiter, the pool and the cache)
//! - **Settings** are one flat `<Component>Config` per component, shared by core and the
//!   host (`LimiterConfig`, `PoolConfig`, `CacheConfig`): a constructor taking the one
//!   setting that has no sensible default (`LimiterConfig::new(algorithm)`,
//!   `PoolConfig::new(max_size)`, `CacheConfig::new(capacity)`), `with_*` setters, and
//!   `validate() -> Result<(), <Component>Error>` naming the first bad setting.
//! - **Queue settings** have the same names wherever something waits: `max_waiters` bounds
//!   the queue, `max_wait` is the default wait (`None`: unbounded); timeouts of I/O the host
//!   performs are `<verb>_timeout` (`create_timeout`, `check_timeout`).
//! - **Errors**: a core machine's error is `<Component>Error` (`LimiterError`, `PoolError`,
//!   `CacheError`): invalid settings and stale ids. A host call that waits for a resource
//!   fails with `<Verb>Error` (`AcquireError`, `GetError<E>`), whose variants keep the same
//!   names for the same ideas: `Config(<Component>Error)`, `QueueFull`, `WouldWait`,
//!   `TimedOut { waited, .. }`, `NoRuntime`.
//! - **Refusals** are [`wait::Rejection`]: `QueueFull` (backpressure) or `WouldWait`
//!   (nothing free for a caller that would not wait). Waiters are [`wait::WaiterId`]; what
//!   `cancel` did is [`wait::Cancelled`].
//! - **Timed calls**: `<verb>_timeout(timeout, …)` overrides `max_wait` for one call
//!   (`Limiter::acquire_timeout`, `Pool::get_timeout`); `run_timeout` bounds wait and work.
//!   `try_<verb>` never waits.
//! - **Counters**: gauges are nouns for what is there now (`in_flight`, `in_use`, `idle`,
//!   `waiting`); totals are past participles (`admitted`, `rejected`, `timed_out`,
//!   `cancelled`, `created`); the same idea has the same name in every `*Stats`.
//! - **Test support**: `validate()` on a machine panics naming a broken invariant; it is
//!   compiled only for tests or with the hidden `validate` feature, never in release API.
#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod cache;
pub mod leak;
pub mod limiter;
pub mod pool;
pub mod report;
pub mod rules;
pub mod stats;
mod time;
pub mod wait;

pub use time::Instant;

/// Re-exported so hosts need not import `core::time` separately.
pub use core::time::Duration;
