//! perfopt-core: the sans-IO heart of perfopt.
//!
//! This crate holds pure state machines and data models — log-linear histograms and sliding
//! windows ([`stats`]), alert rules with hysteresis ([`rules`]) and the versioned report
//! ([`report`]). It does **not** read a clock, touch the network or the file system, spawn
//! tasks or allocate threads: it is `#![no_std]` + `alloc` and builds for
//! `wasm32-unknown-unknown`. Hosts (the tokio binary `perfopt`, the browser viewer
//! `perfopt-web`) read the clock in one file each and pass `now` in.
//!
//! # The calling contract
//! Every machine follows one shape: `handle_*(now, input)` mutates, `poll_*()` drains the
//! actions and events the machine produced, and `poll_timeout()` (where a machine has timers)
//! says when the host must call `handle_timeout(now)`. Time never goes back between calls;
//! a spurious or late timeout is harmless.
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
