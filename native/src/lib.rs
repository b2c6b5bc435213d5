//! perfopt: a performance toolkit for async services — the tokio host of `perfopt-core`.
//!
//! It supplies what core leaves out: the clock ([`clock`], the only file that reads it),
//! system and process metrics from sysinfo ([`sampler`]), the [`monitor`] loop that feeds
//! them into core's recorder and rules, report files written atomically ([`report_file`]),
//! the HTTP server with the embedded browser viewer and Prometheus `/metrics` ([`http`]),
//! and the `perfopt` command line. It does not decide anything itself: thresholds, windows
//! and states are core's.
//!
//! # Example: watch this process for a second and read the report
//! ```no_run
//! # async fn f() {
//! use std::time::Duration;
//! use perfopt::monitor::{Monitor, MonitorConfig, Watch};
//!
//! let config = MonitorConfig {
//!     duration: Some(Duration::from_secs(2)),
//!     watch: Watch::Pid(std::process::id()),
//!     ..MonitorConfig::default()
//! };
//! let monitor = Monitor::start(config).expect("valid settings");
//! let handle = monitor.handle();
//! handle.record_request(Duration::from_millis(12), true); // from your service
//! let report = monitor.run(std::future::pending()).await;
//! println!("{}", perfopt::show::render(&report));
//! # }
//! ```

#[cfg(feature = "alloc-count")]
pub mod alloc_count;
pub mod cache;
pub mod clock;
#[cfg(feature = "cli")]
pub mod demo;
#[cfg(feature = "cli")]
mod demo_summary;
mod driver;
#[cfg(feature = "server")]
pub mod events;
pub mod fleet;
#[cfg(feature = "viewer")]
pub mod html_report;
#[cfg(feature = "server")]
pub mod http;
pub mod limiter;
#[cfg(feature = "metrics")]
pub mod metrics_bridge;
pub mod monitor;
pub mod pool;
pub mod profile;
pub mod prometheus;
pub mod report_file;
pub mod sampler;
pub mod show;
pub mod status_line;
pub mod viewer;
pub mod workload;

pub use perfopt_core as core_api;

/// The README's Rust examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
