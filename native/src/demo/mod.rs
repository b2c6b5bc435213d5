//! `perfopt demo`: a real chat-room server under real load on loopback, instrumented with
//! every perfopt component, ending in a report whose recommendations come from measured data.
//!
//! - the server ([`server`]) speaks the line protocol of [`protocol`] over TCP on a free
//!   127.0.0.1 port; every command runs under the limiter; user profiles (for `HELLO` and
//!   for each `@mention` in a message) go through the cache in front of a real SQLite file
//!   ([`db`]) reached through the pool — the wiring is [`Backend`]; handlers are profiled;
//! - N simulated users ([`client`]) join rooms and send messages at a set rate, measuring
//!   the delivery latency of their own messages;
//! - the [`Monitor`] samples this process every second, takes the request latencies, the
//!   cache hit rate and the component statistics, and evaluates the rules.
//!
//! The modules follow the jobs: settings and errors ([`DemoConfig`], [`DemoError`]), wiring
//! ([`Backend`]), the run (this module: measurement first, then teardown), the progress line,
//! and the text summary (`crate::demo_summary`, beside `crate::show`).

mod backend;
pub mod client;
pub mod db;
mod progress;
pub mod protocol;
pub mod server;
mod settings;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use perfopt_core::report::Report;

pub use backend::Backend;
pub use settings::{DemoConfig, DemoError, LimiterKind, SettingError};

use crate::clock;
use crate::monitor::{Monitor, MonitorConfig, MonitorHandle, Watch};

/// The result of a demo run.
#[derive(Debug)]
pub struct DemoOutcome {
    /// The final report.
    pub report: Report,
    /// The seed's four sections, as text.
    pub summary: String,
    /// Messages delivered back to their senders per second of sending.
    pub messages_per_s: f64,
    /// p99 delivery latency measured by the clients, ms.
    pub p99_ms: f64,
}

/// A running demo, to hand the live report to a server while it runs.
#[derive(Debug)]
pub struct Demo {
    config: DemoConfig,
    monitor: Monitor,
    backend: Arc<Backend>,
    _data: Option<TempData>,
    db_path: PathBuf,
}

/// A temporary folder removed on drop.
#[derive(Debug)]
struct TempData(PathBuf);

impl Drop for TempData {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Demo {
    /// Validates the settings, creates the database and the components, and starts the
    /// monitor (of this process). Must run inside a tokio runtime.
    ///
    /// # Errors
    /// [`DemoError`] for out-of-range settings or a database that cannot be created.
    pub fn start(config: DemoConfig) -> Result<Demo, DemoError> {
        config.validate().map_err(DemoError::Config)?;
        let (dir, temp) = match &config.data_dir {
            Some(d) => (d.clone(), None),
            None => {
                // A new private folder with an unpredictable name: a folder or symlink
                // prepared in /tmp by someone else is never used.
                let d = crate::report_file::private_temp_dir("perfopt-demo").map_err(|e| {
                    DemoError::Database {
                        path: std::env::temp_dir(),
                        error: e.into(),
                    }
                })?;
                (d.clone(), Some(TempData(d)))
            }
        };
        std::fs::create_dir_all(&dir).map_err(|e| DemoError::Database {
            path: dir.clone(),
            error: e.into(),
        })?;
        let db_path = dir.join("users.db");
        db::create(&db_path, config.users).map_err(|e| DemoError::Database {
            path: db_path.clone(),
            error: e.into(),
        })?;

        let backend = Arc::new(Backend::new(&config, &db_path)?);
        let monitor = Monitor::start(MonitorConfig {
            duration: None,
            watch: Watch::Pid(std::process::id()),
            ..MonitorConfig::default()
        })
        .map_err(|e| DemoError::setup("monitor", e.to_string()))?;
        backend.add_components(&monitor.handle());
        Ok(Demo {
            config,
            monitor,
            backend,
            _data: temp,
            db_path,
        })
    }

    /// The live monitor handle (its report is the live report).
    pub fn handle(&self) -> MonitorHandle {
        self.monitor.handle()
    }

    /// Runs the server and the clients to the end, with a progress line on stderr when it is
    /// a terminal; returns the final report and the summary.
    ///
    /// # Errors
    /// [`DemoError::Io`] if the server cannot listen on 127.0.0.1.
    pub async fn run(self) -> Result<DemoOutcome, DemoError> {
        let Demo {
            config,
            monitor,
            backend,
            _data,
            db_path,
        } = self;
        let handle = monitor.handle();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(DemoError::Io)?;
        let addr = listener.local_addr().map_err(DemoError::Io)?;
        eprintln!(
            "perfopt demo: chat server on {addr} (line protocol in the README; try `nc {}`)",
            addr.to_string().replace(':', " ")
        );
        let chat = server::Chat::new(backend.clone());
        let server_task = tokio::spawn(chat.clone().serve(listener));

        // Profile the monitor handle's profiler too: the handlers record into the backend's.
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let monitor_task = tokio::spawn(monitor.run(async move {
            let _ = stop_rx.await;
        }));

        let stats = Arc::new(client::ClientStats::default());
        let (phases, quit) = client::Phases::new(config.clients as usize);
        let start = clock::now();
        let stop_at = start.saturating_add(config.duration);
        let mut clients = Vec::with_capacity(config.clients as usize);
        for i in 0..config.clients {
            let plan = client::ClientPlan {
                addr,
                user: 1 + (i % config.users),
                room: format!("room-{}", i / config.room_size),
                rate: config.rate,
                stop_at,
                users: config.users,
                seed: 0x5eed_0000 + u64::from(i),
                record: config.instrumented,
                closed_loop: config.closed_loop,
                phases: phases.clone(),
            };
            clients.push(tokio::spawn(client::run(
                plan,
                handle.clone(),
                stats.clone(),
            )));
        }
        let progress = tokio::spawn(progress::show(
            start,
            config.duration,
            stats.clone(),
            handle.clone(),
        ));
        // Measurement: until every client has sent its last message and got its echoes.
        phases.drained().await;
        progress.abort();
        let _ = stop_tx.send(());
        let monitor_result = monitor_task.await;
        // Teardown, unmeasured: clients say goodbye and disconnect, the server stops.
        let _ = quit.send(true);
        for c in clients {
            let _ = c.await;
        }
        server_task.abort();
        let mut report = monitor_result.map_err(|e| DemoError::Io(e.into()))?;
        // The handlers' profile goes into the report (the monitor's own profiler is empty).
        report.profile = backend.profiler.table(20);
        for (name, value) in [
            (
                "cache",
                serde_json::to_value(backend.cache.stats()).unwrap_or_default(),
            ),
            (
                "pool",
                serde_json::to_value(backend.pool.stats()).unwrap_or_default(),
            ),
            (
                "limiter",
                serde_json::to_value(backend.limiter.stats()).unwrap_or_default(),
            ),
        ] {
            report.components.insert(name.to_string(), value);
        }
        let summary =
            crate::demo_summary::render(&config, &report, &backend, &chat.stats, &stats, &db_path);
        let messages_per_s =
            stats.echoed.load(Ordering::Relaxed) as f64 / config.duration.as_secs_f64();
        let p99_ms = stats
            .latency_us
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .quantile(0.99)
            .map_or(f64::NAN, |us| us as f64 / 1000.0);
        Ok(DemoOutcome {
            report,
            summary,
            messages_per_s,
            p99_ms,
        })
    }
}
