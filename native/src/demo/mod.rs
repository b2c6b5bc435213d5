//! `perfopt demo`: a real chat-room server under real load on loopback, instrumented with
//! every perfopt component, ending in a report whose recommendations come from measured data.
//!
//! - the server ([`server`]) speaks the line protocol of [`protocol`] over TCP on a free
//!   127.0.0.1 port; every command runs under the [`Limiter`]; user profiles (for `HELLO`
//!   and for each `@mention` in a message) go through the [`Cache`] in front of a real SQLite
//!   file ([`db`]) reached through the [`Pool`]; handlers are profiled;
//! - N simulated users ([`client`]) join rooms and send messages at a set rate, measuring
//!   the delivery latency of their own messages;
//! - the [`Monitor`] samples this process every second, takes the request latencies, the
//!   cache hit rate and the component statistics, and evaluates the rules.

pub mod client;
pub mod db;
pub mod protocol;
pub mod server;

use std::fmt;
use std::future::Future;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use perfopt_core::cache::CacheConfig;
use perfopt_core::limiter::{AimdConfig, Algorithm, GradientConfig};
use perfopt_core::report::{Report, metrics};

use crate::cache::{Cache, CacheSource};
use crate::clock;
use crate::limiter::{Limiter, LimiterConfig};
use crate::monitor::{ComponentSource, Monitor, MonitorConfig, MonitorHandle, Watch};
use crate::pool::{Pool, PoolConfig, SqliteManager};
use crate::profile::Profiler;
use db::Profile;
use protocol::ProtocolError;

/// Which limit algorithm the server's limiter uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimiterKind {
    /// A fixed number of concurrent commands.
    Fixed,
    /// Additive increase, multiplicative decrease.
    Aimd,
    /// Latency gradient (Gradient2 / Envoy style).
    Gradient,
}

/// Settings of the demo. [`DemoConfig::validate`] checks the ranges.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// Simulated users, each a TCP connection.
    pub clients: u32,
    /// Messages per second per client.
    pub rate: f64,
    /// How long the clients send.
    pub duration: Duration,
    /// Users in the database.
    pub users: u32,
    /// Profile cache capacity (entries).
    pub cache_size: u64,
    /// Maximum SQLite connections.
    pub pool_size: usize,
    /// Limiter algorithm.
    pub limiter: LimiterKind,
    /// Users per room.
    pub room_size: u32,
    /// Where the SQLite file goes (a temporary folder by default).
    pub data_dir: Option<PathBuf>,
    /// Profile handlers and report latencies to the monitor (off only to measure what the
    /// instrumentation costs; the 1 Hz system sampling runs either way).
    pub instrumented: bool,
    /// Each client sends its next message as soon as the previous one came back (measures
    /// capacity), instead of at `rate`.
    pub closed_loop: bool,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            clients: 200,
            rate: 5.0,
            duration: Duration::from_secs(20),
            users: 10_000,
            cache_size: 5_000,
            pool_size: 4,
            limiter: LimiterKind::Gradient,
            room_size: 10,
            data_dir: None,
            instrumented: true,
            closed_loop: false,
        }
    }
}

impl DemoConfig {
    /// Checks every setting's range.
    ///
    /// # Errors
    /// One line naming the flag, the value and the allowed range.
    pub fn validate(&self) -> Result<(), String> {
        let check = |ok: bool, msg: String| if ok { Ok(()) } else { Err(msg) };
        check(
            (1..=5_000).contains(&self.clients),
            format!("--clients {} is out of range: use 1 to 5000", self.clients),
        )?;
        check(
            self.rate.is_finite() && self.rate > 0.0 && self.rate <= 1_000.0,
            format!(
                "--rate {} is out of range: use more than 0 and at most 1000 messages/s per client",
                self.rate
            ),
        )?;
        check(
            self.duration >= Duration::from_secs(1) && self.duration <= Duration::from_secs(3_600),
            format!(
                "--duration {:?} is out of range: use 1s to 1h",
                self.duration
            ),
        )?;
        check(
            (1..=1_000_000).contains(&self.users),
            format!("--users {} is out of range: use 1 to 1000000", self.users),
        )?;
        check(
            (1..=10_000_000).contains(&self.cache_size),
            format!(
                "--cache-size {} is out of range: use 1 to 10000000",
                self.cache_size
            ),
        )?;
        check(
            (1..=64).contains(&self.pool_size),
            format!(
                "--pool-size {} is out of range: use 1 to 64",
                self.pool_size
            ),
        )?;
        check(
            (1..=1_000).contains(&self.room_size),
            format!(
                "--room-size {} is out of range: use 1 to 1000",
                self.room_size
            ),
        )?;
        Ok(())
    }
}

/// Why the demo could not run.
#[derive(Debug)]
#[non_exhaustive]
pub enum DemoError {
    /// A setting is out of range.
    Config(String),
    /// The database could not be created.
    Database(String),
    /// A component could not be built.
    Setup(String),
    /// The server could not listen.
    Io(std::io::Error),
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DemoError::Config(m) => f.write_str(m),
            DemoError::Database(m) => write!(f, "demo database: {m}"),
            DemoError::Setup(m) => write!(f, "demo setup: {m}"),
            DemoError::Io(e) => write!(f, "demo server: {e}"),
        }
    }
}

impl std::error::Error for DemoError {}

/// What the server's handlers use: limiter, cache, pool and profiler.
pub struct Backend {
    limiter: Limiter,
    cache: Arc<Cache<u32, Arc<Profile>>>,
    pool: Arc<Pool<SqliteManager>>,
    profiler: Profiler,
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backend").finish_non_exhaustive()
    }
}

impl Backend {
    /// The limiter, cache, pool (of `db_path`) and profiler for `config`. Must run inside a
    /// tokio runtime (the pool starts its tasks).
    ///
    /// # Errors
    /// [`DemoError::Setup`] naming the component whose settings are invalid.
    pub fn new(config: &DemoConfig, db_path: &std::path::Path) -> Result<Backend, DemoError> {
        let algorithm = match config.limiter {
            LimiterKind::Fixed => Algorithm::Fixed(64),
            LimiterKind::Aimd => Algorithm::Aimd(AimdConfig::default()),
            LimiterKind::Gradient => Algorithm::Gradient(GradientConfig::default()),
        };
        let mut limiter_config = LimiterConfig::with_algorithm(algorithm);
        // Room for a login storm of every client at once; beyond it, ERR busy (backpressure).
        limiter_config.limiter.max_queue = (config.clients as usize * 2).max(64);
        let limiter = Limiter::new(limiter_config).map_err(|e| DemoError::Setup(e.to_string()))?;
        // Profiles change rarely; a TTL bounds how stale a renamed user can look.
        let cache_config =
            CacheConfig::new(config.cache_size).with_default_ttl(Duration::from_secs(300));
        let cache =
            Cache::new(cache_config).map_err(|e| DemoError::Setup(format!("cache: {e}")))?;
        let mut pool_config = PoolConfig::with_max_size(config.pool_size);
        pool_config.pool.min_idle = 1.min(config.pool_size);
        let pool = Pool::new(SqliteManager::new(db_path), pool_config)
            .map_err(|e| DemoError::Setup(format!("pool: {e}")))?;
        Ok(Backend {
            limiter,
            cache: Arc::new(cache),
            pool: Arc::new(pool),
            profiler: if config.instrumented {
                Profiler::new()
            } else {
                Profiler::disabled()
            },
        })
    }

    /// The limiter commands run under.
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// The profiler handlers record into.
    pub fn profiler(&self) -> &Profiler {
        &self.profiler
    }

    /// Runs `work` under the limiter; a rejection or queue timeout becomes `ERR busy`.
    pub async fn limited<F: Future>(&self, work: F) -> Result<F::Output, ProtocolError> {
        self.limiter.run(work).await.map_err(|e| ProtocolError {
            code: "busy",
            message: e.to_string(),
        })
    }

    /// A user's profile: from the cache, or loaded once from SQLite through the pool.
    pub async fn profile(&self, id: u32) -> Result<Arc<Profile>, ProtocolError> {
        let pool = self.pool.clone();
        let profiler = self.profiler.clone();
        let load = move || async move {
            profiler
                .instrument("db.load_profile", async move {
                    let conn = pool.get().await.map_err(|e| e.to_string())?;
                    let row = conn
                        .interact(move |c| db::load_profile(c, id))
                        .await
                        .map_err(|e| e.to_string())?;
                    match row {
                        Ok(Some(p)) => Ok(Arc::new(p)),
                        Ok(None) => Err(format!("no user {id}")),
                        Err(e) => Err(e.to_string()),
                    }
                })
                .await
        };
        self.profiler
            .instrument("cache.get_or_load", self.cache.get_or_load(id, load))
            .await
            .map_err(|e: Arc<String>| ProtocolError {
                code: if e.starts_with("no user") {
                    "bad-user"
                } else {
                    "unavailable"
                },
                message: e.to_string(),
            })
    }
}

struct PoolSource(Arc<Backend>);

impl ComponentSource for PoolSource {
    fn name(&self) -> &'static str {
        "pool"
    }
    fn stats(&self) -> serde_json::Value {
        serde_json::to_value(self.0.pool.stats()).unwrap_or_default()
    }
}

struct LimiterSource(Arc<Backend>);

impl ComponentSource for LimiterSource {
    fn name(&self) -> &'static str {
        "limiter"
    }
    fn stats(&self) -> serde_json::Value {
        serde_json::to_value(self.0.limiter.stats()).unwrap_or_default()
    }
}

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
                let d = crate::report_file::private_temp_dir("perfopt-demo")
                    .map_err(|e| DemoError::Database(format!("temporary folder: {e}")))?;
                (d.clone(), Some(TempData(d)))
            }
        };
        std::fs::create_dir_all(&dir)
            .map_err(|e| DemoError::Database(format!("{}: {e}", dir.display())))?;
        let db_path = dir.join("users.db");
        db::create(&db_path, config.users)
            .map_err(|e| DemoError::Database(format!("{}: {e}", db_path.display())))?;

        let backend = Arc::new(Backend::new(&config, &db_path)?);
        let monitor = Monitor::start(MonitorConfig {
            duration: None,
            watch: Watch::Pid(std::process::id()),
            ..MonitorConfig::default()
        })
        .map_err(|e| DemoError::Setup(e.to_string()))?;
        let handle = monitor.handle();
        handle.add_component(Arc::new(CacheSource::new("cache", backend.cache.clone())));
        handle.add_component(Arc::new(PoolSource(backend.clone())));
        handle.add_component(Arc::new(LimiterSource(backend.clone())));
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
            };
            clients.push(tokio::spawn(client::run(
                plan,
                handle.clone(),
                stats.clone(),
            )));
        }
        let progress = tokio::spawn(progress(
            start,
            config.duration,
            stats.clone(),
            handle.clone(),
        ));
        for c in clients {
            let _ = c.await;
        }
        progress.abort();
        let _ = stop_tx.send(());
        let mut report = monitor_task
            .await
            .map_err(|e| DemoError::Setup(e.to_string()))?;
        server_task.abort();
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
        let summary = summary(&config, &report, &backend, &chat.stats, &stats, &db_path);
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

async fn progress(
    start: perfopt_core::Instant,
    total: Duration,
    stats: Arc<client::ClientStats>,
    handle: MonitorHandle,
) {
    let tty = std::io::stderr().is_terminal();
    let mut tick = tokio::time::interval(Duration::from_millis(if tty { 250 } else { 2000 }));
    loop {
        tick.tick().await;
        let elapsed = clock::now().saturating_duration_since(start).min(total);
        let frac = elapsed.as_secs_f64() / total.as_secs_f64().max(1e-9);
        let width = 30;
        let filled = (frac * f64::from(width)).round() as usize;
        let bar: String =
            "#".repeat(filled) + &".".repeat(width as usize - filled.min(width as usize));
        let sent = stats.sent.load(Ordering::Relaxed);
        let echoed = stats.echoed.load(Ordering::Relaxed);
        let p99 = handle
            .report()
            .series
            .column(metrics::LATENCY_P99)
            .and_then(|c| c.iter().rev().flatten().next().copied());
        let line = format!(
            "[{bar}] {:>5.1}/{:.0} s  sent {sent}  delivered {echoed}  p99 {}",
            elapsed.as_secs_f64(),
            total.as_secs_f64(),
            p99.map_or("-".to_string(), |v| format!("{v:.2} ms"))
        );
        if tty {
            eprint!("\r\x1b[K{line}");
        } else {
            eprintln!("{line}");
        }
        let _ = std::io::stderr().flush();
    }
}

fn summary(
    config: &DemoConfig,
    report: &Report,
    backend: &Backend,
    server: &server::ServerStats,
    clients: &client::ClientStats,
    db_path: &std::path::Path,
) -> String {
    use perfopt_core::report::metrics::{Unit, format_value};
    use std::fmt::Write as _;
    let mut out = String::new();
    let secs = report.duration().as_secs_f64();
    let l = backend.limiter.stats();
    let _ = writeln!(
        out,
        "\n=== 1. Tasks run through the limiter ({:?}) ===",
        config.limiter
    );
    let _ = writeln!(
        out,
        "  commands {}  admitted {}  rejected {}  timed out {}  limit now {}  errors sent {}",
        server.commands.load(Ordering::Relaxed),
        l.admitted,
        l.rejected,
        l.timed_out,
        backend.limiter.limit(),
        server.errors.load(Ordering::Relaxed)
    );
    let c = backend.cache.stats();
    let _ = writeln!(
        out,
        "\n=== 2. Cache statistics (capacity {}) ===",
        config.cache_size
    );
    let lookups = c.hits() + c.misses();
    let _ = writeln!(
        out,
        "  lookups {lookups}  hits {}  misses {}  hit rate {}  entries {}",
        c.hits(),
        c.misses(),
        format_value(
            if lookups > 0 {
                c.hits() as f64 * 100.0 / lookups as f64
            } else {
                f64::NAN
            },
            Unit::Percent
        ),
        backend.cache.len()
    );
    let p = backend.pool.stats();
    let _ = writeln!(
        out,
        "  SQLite pool ({}): size {}  {}",
        db_path.display(),
        backend.pool.size(),
        serde_json::to_string(&p).unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "\n=== 3. Collected metrics ({secs:.1} s, {} samples) ===",
        report.series.len()
    );
    if let Some(lat) = report.summaries.get(metrics::LATENCY) {
        let s = &lat.summary;
        let _ = writeln!(
            out,
            "  delivery latency  avg {}  p50 {}  p95 {}  p99 {}  max {}",
            format_value(s.mean, Unit::Millis),
            format_value(s.p50, Unit::Millis),
            format_value(s.p95, Unit::Millis),
            format_value(s.p99, Unit::Millis),
            format_value(s.max, Unit::Millis)
        );
        let _ = writeln!(
            out,
            "  throughput        {}",
            format_value(s.rate_per_s, Unit::PerSec)
        );
    }
    let _ = writeln!(
        out,
        "  clients           {} connected, {} failed to log in, {} login retries after ERR busy",
        server.connections.load(Ordering::Relaxed),
        clients.failed_clients.load(Ordering::Relaxed),
        clients.retries.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "  messages          sent {}  delivered back {}  lost {}  broadcast deliveries {}  dropped {}",
        clients.sent.load(Ordering::Relaxed),
        clients.echoed.load(Ordering::Relaxed),
        clients.lost.load(Ordering::Relaxed),
        server.delivered.load(Ordering::Relaxed),
        server.dropped.load(Ordering::Relaxed)
    );
    for (label, name) in [
        ("CPU (process)", metrics::PROC_CPU),
        ("memory (system)", metrics::SYS_MEM),
        ("RSS", metrics::PROC_RSS),
        ("errors", metrics::ERROR_RATE),
    ] {
        if let Some(m) = report.summaries.get(name) {
            let _ = writeln!(
                out,
                "  {label:<17} mean {}  max {}",
                format_value(m.summary.mean, m.unit),
                format_value(m.summary.max, m.unit)
            );
        }
    }
    if !report.profile.is_empty() {
        let _ = writeln!(out, "  top scopes by cumulative time:");
        for row in report.profile.iter().take(6) {
            let _ = writeln!(
                out,
                "    {:<22} calls {:>8}  total {:>9.1} ms  p99 {:>7.3} ms",
                row.scope, row.calls, row.total_ms, row.p99_ms
            );
        }
    }
    let _ = writeln!(out, "\n=== 4. Optimization report ===");
    if report.recommendations.is_empty() {
        let _ = writeln!(out, "  no rule fired: nothing to recommend for this load");
    }
    for r in &report.recommendations {
        let unit = metrics::lookup(&r.evidence.metric).map_or(Unit::Count, |d| d.unit);
        let _ = writeln!(
            out,
            "  [{:?}] {} observed {} vs threshold {} ({})\n      advice: {}",
            r.severity,
            r.message,
            format_value(r.evidence.observed, unit),
            format_value(r.evidence.threshold, unit),
            if r.state == perfopt_core::rules::AlertState::Firing {
                "still firing"
            } else {
                "resolved"
            },
            r.advice
        );
    }
    out
}
