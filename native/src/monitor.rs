//! The monitor loop: samples the system (and a target process) every interval, feeds the
//! samples and the requests an embedding service reports into core's [`Recorder`], and
//! evaluates the rules. All policy is in core; this is the driver.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use perfopt_core::Instant;
use perfopt_core::leak::LeakConfig;
use perfopt_core::report::{AlertRecord, Meta, Recorder, Report, Target, metrics};
use perfopt_core::rules::{Rule, RuleError};
use perfopt_core::stats::Histogram;
use tokio::sync::mpsc;

use crate::clock;
use crate::profile::Profiler;
use crate::sampler::{Sample, Sampler, SamplerError};

/// What the monitor watches besides the system.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Watch {
    /// The system only.
    #[default]
    System,
    /// An existing process.
    Pid(u32),
    /// A command perfopt starts, watches until it exits and stops when the run ends.
    Command(Vec<String>),
}

/// Monitor settings.
#[derive(Clone, Debug)]
pub struct MonitorConfig {
    /// Time between samples (at least 200 ms, for CPU percentages).
    pub interval: Duration,
    /// Stop after this long; `None` runs until stopped or until the target exits.
    pub duration: Option<Duration>,
    /// What to watch.
    pub watch: Watch,
    /// Rules to evaluate.
    pub rules: Vec<Rule>,
    /// How the target's RSS is analysed for leaks (`limit_bytes` defaults to the memory
    /// limit the sampler sees).
    pub leak: LeakConfig,
    /// Write the report to this file (atomically) every `Checkpoint::every` — or, when a
    /// write takes longer than 1/500 of that, every 500 write times — so a kill loses at most
    /// one interval.
    pub checkpoint: Option<Checkpoint>,
    /// Continue this report (series, rollups, summaries, alert states) instead of starting
    /// a new one; its rules and leak settings are kept.
    pub resume: Option<Report>,
}

/// Periodic report writes.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// The report file.
    pub path: std::path::PathBuf,
    /// Time between writes.
    pub every: Duration,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            interval: Duration::from_secs(1),
            duration: None,
            watch: Watch::System,
            rules: perfopt_core::rules::default_rules(),
            leak: LeakConfig::default(),
            checkpoint: None,
            resume: None,
        }
    }
}

/// Why a monitor could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum MonitorError {
    /// The interval is below sysinfo's 200 ms minimum for CPU usage.
    IntervalTooShort(Duration),
    /// A rule is invalid.
    Rule(RuleError),
    /// The system or the process cannot be read.
    Sampler(SamplerError),
    /// The command could not be started.
    Spawn(String, std::io::Error),
    /// `Watch::Command` with no program.
    EmptyCommand,
    /// The report to resume cannot be continued.
    Resume(String),
}

impl fmt::Display for MonitorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MonitorError::IntervalTooShort(d) => {
                write!(f, "--interval {d:?} is too short: use at least 200ms")
            }
            MonitorError::Rule(e) => write!(f, "invalid rule: {e}"),
            MonitorError::Sampler(e) => write!(f, "{e}"),
            MonitorError::Spawn(cmd, e) => write!(f, "cannot start `{cmd}`: {e}"),
            MonitorError::EmptyCommand => write!(f, "no command given after `--`"),
            MonitorError::Resume(e) => write!(f, "cannot resume the report: {e}"),
        }
    }
}

impl std::error::Error for MonitorError {}

/// What happened during a run, for a live display.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum MonitorEvent {
    /// A sample was taken, `elapsed` after the start.
    Sample {
        /// Time since the start.
        elapsed: Duration,
        /// The values.
        values: Sample,
    },
    /// A rule changed state; `recommendation` is the advice when it fired.
    Alert(AlertRecord, Option<perfopt_core::report::Recommendation>),
    /// The watched process exited.
    TargetExited(Option<i32>),
    /// A checkpoint was written (`None`) or failed (the error).
    Checkpoint(Option<String>),
    /// The watched process (a command perfopt started) was killed by this signal.
    TargetKilled(i32),
}

#[derive(Debug, Default)]
struct Interval {
    latency_us: Histogram,
    errors: u64,
    extra: Vec<(&'static str, f64)>,
}

/// A component (cache, pool, limiter, …) whose statistics go into the report's
/// `components.<name>` and which may add metrics to each sample.
pub trait ComponentSource: Send + Sync {
    /// The key under `components`.
    fn name(&self) -> &'static str;
    /// Its statistics now, as JSON.
    fn stats(&self) -> serde_json::Value;
    /// Metrics for the sample being taken (for example the cache hit rate of the last
    /// interval). Called once per interval.
    fn sample(&self) -> Vec<(&'static str, f64)> {
        Vec::new()
    }
}

struct Shared {
    recorder: Mutex<Recorder>,
    interval: Mutex<Interval>,
    profiler: Profiler,
    components: Mutex<Vec<Arc<dyn ComponentSource>>>,
    /// Samples taken so far: the version of the live report (the HTTP server encodes the
    /// report once per version).
    samples: AtomicU64,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

/// Rows of the profile table in the report.
const PROFILE_TOP_N: usize = 20;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data that is still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A cheap, cloneable handle through which a service reports requests to the monitor, and
/// through which a server reads the current report.
#[derive(Clone, Debug)]
pub struct MonitorHandle {
    shared: Arc<Shared>,
}

impl MonitorHandle {
    /// Records one finished request.
    pub fn record_request(&self, latency: Duration, ok: bool) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let mut i = lock(&self.shared.interval);
        i.latency_us.record(us);
        if !ok {
            i.errors += 1;
        }
    }

    /// Sets a metric for the next sample (for example
    /// [`metrics::CACHE_HIT_RATE`]); it is cleared after each sample.
    pub fn set_metric(&self, metric: &'static str, value: f64) {
        lock(&self.shared.interval).extra.push((metric, value));
    }

    /// The profiler whose top scopes go into the report: time code with
    /// [`Profiler::scope`], [`Profiler::instrument`] or its `tracing` layer.
    pub fn profiler(&self) -> &Profiler {
        &self.shared.profiler
    }

    /// Adds a component whose statistics go into the report (`components.<name>`).
    pub fn add_component(&self, source: Arc<dyn ComponentSource>) {
        lock(&self.shared.components).push(source);
    }

    /// Samples taken so far; it changes whenever the report gains a sample.
    pub fn samples_taken(&self) -> u64 {
        self.shared.samples.load(Ordering::Acquire)
    }

    /// The report as of now.
    pub fn report(&self) -> Report {
        let report = lock(&self.shared.recorder).report(clock::now());
        self.complete(report)
    }

    /// The report as of now without its history ([`Recorder::latest`]): each metric's latest
    /// value, no rollups. What `/metrics` serves; its cost does not grow with the run.
    pub fn latest(&self) -> Report {
        let report = lock(&self.shared.recorder).latest(clock::now());
        self.complete(report)
    }

    fn complete(&self, mut report: Report) -> Report {
        report.profile = self.shared.profiler.table(PROFILE_TOP_N);
        for c in lock(&self.shared.components).iter() {
            report.components.insert(c.name().to_string(), c.stats());
        }
        report
    }
}

/// The recorder continuing `report`, whose start is mapped onto our clock by wall time.
fn resume(
    report: &Report,
    now: Instant,
    target: Option<Target>,
    interval_ms: u64,
) -> Result<Recorder, MonitorError> {
    let unix_now = clock::unix_ms();
    let last = report
        .meta
        .ended_at
        .max(report.meta.started_at + report.series.t_ms().last().copied().unwrap_or(0));
    if unix_now <= last {
        return Err(MonitorError::Resume(format!(
            "it ends in the future ({} ms after now): is the clock right?",
            last - unix_now
        )));
    }
    let elapsed = Duration::from_millis(unix_now - report.meta.started_at);
    let mut report = report.clone();
    if target.is_some() {
        report.meta.target = target;
    }
    report.meta.interval_ms = interval_ms;
    Recorder::resume(now, elapsed, &report).map_err(MonitorError::Resume)
}

/// A configured monitor, ready to [`run`](Monitor::run).
#[derive(Debug)]
pub struct Monitor {
    config: MonitorConfig,
    handle: MonitorHandle,
    start: Instant,
    sampler: Sampler,
    child: Option<tokio::process::Child>,
    events: Option<mpsc::UnboundedSender<MonitorEvent>>,
    /// Turns component stats into per-interval series (cache tiers, pool, limiter).
    component_series: perfopt_core::report::components::ComponentSeries,
}

impl Monitor {
    /// Starts the target command if any, takes the first reading and starts the clock.
    ///
    /// # Errors
    /// A [`MonitorError`] for a bad interval or rule, a missing pid, or a command that
    /// cannot start.
    pub fn start(config: MonitorConfig) -> Result<Monitor, MonitorError> {
        if config.interval < sysinfo::MINIMUM_CPU_UPDATE_INTERVAL {
            return Err(MonitorError::IntervalTooShort(config.interval));
        }
        perfopt_core::rules::RuleEngine::new(config.rules.clone()).map_err(MonitorError::Rule)?;
        let (pid, child, command) = match &config.watch {
            Watch::System => (None, None, None),
            Watch::Pid(pid) => (Some(*pid), None, None),
            Watch::Command(argv) => {
                let (program, args) = argv.split_first().ok_or(MonitorError::EmptyCommand)?;
                let line = argv.join(" ");
                let child = tokio::process::Command::new(program)
                    .args(args)
                    .kill_on_drop(true)
                    .spawn()
                    .map_err(|e| MonitorError::Spawn(line.clone(), e))?;
                (child.id(), Some(child), Some(line))
            }
        };
        let sampler = Sampler::new(pid).map_err(MonitorError::Sampler)?;
        let target = pid.map(|pid| Target {
            pid,
            command: command.or_else(|| sampler.target_command()),
            exit: None,
        });
        let start = clock::now();
        let interval_ms = u64::try_from(config.interval.as_millis()).unwrap_or(u64::MAX);
        let recorder = match &config.resume {
            None => {
                let meta = Meta {
                    tool_version: env!("CARGO_PKG_VERSION").to_string(),
                    host: crate::sampler::host_name(),
                    target,
                    started_at: clock::unix_ms(),
                    ended_at: 0,
                    interval_ms,
                };
                let mut recorder =
                    Recorder::new(start, meta, config.rules.clone()).map_err(MonitorError::Rule)?;
                let mut leak = config.leak.clone();
                if leak.limit_bytes.is_none() {
                    leak.limit_bytes = sampler.memory_limit();
                }
                recorder.set_leak_config(leak);
                recorder
            }
            Some(report) => resume(report, start, target, interval_ms)?,
        };
        let handle = MonitorHandle {
            shared: Arc::new(Shared {
                recorder: Mutex::new(recorder),
                interval: Mutex::new(Interval::default()),
                profiler: Profiler::new(),
                components: Mutex::new(Vec::new()),
                samples: AtomicU64::new(0),
            }),
        };
        Ok(Monitor {
            config,
            handle,
            start,
            sampler,
            child,
            events: None,
            component_series: Default::default(),
        })
    }

    /// A handle for recording requests and reading the live report.
    pub fn handle(&self) -> MonitorHandle {
        self.handle.clone()
    }

    /// Receives [`MonitorEvent`]s as the run goes on.
    pub fn events(&mut self) -> mpsc::UnboundedReceiver<MonitorEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.events = Some(tx);
        rx
    }

    /// Samples every interval until `stop` completes, the duration ends or the target exits;
    /// then takes a last sample and returns the final report. A started command still running
    /// at the end is killed. With [`MonitorConfig::checkpoint`] the report is also written
    /// every checkpoint interval.
    pub async fn run(mut self, stop: impl std::future::Future<Output = ()>) -> Report {
        tokio::pin!(stop);
        let deadline = self.config.duration.map(|d| self.start.saturating_add(d));
        let mut next = self.start.saturating_add(self.config.interval);
        let mut next_checkpoint = self
            .config
            .checkpoint
            .as_ref()
            .map(|c| self.start.saturating_add(c.every));
        loop {
            let wake = deadline.map_or(next, |d| d.min(next));
            let mut stopped = false;
            tokio::select! {
                () = tokio::time::sleep_until(clock::to_std(wake).into()) => {}
                () = &mut stop => stopped = true,
                status = wait_child(&mut self.child) => {
                    self.target_ended(status);
                    stopped = true;
                }
            }
            let now = clock::now();
            if stopped || deadline.is_some_and(|d| now >= d) {
                // A final sample so short runs still have data up to the end.
                if !stopped
                    || now.saturating_duration_since(self.start) >= Duration::from_millis(200)
                {
                    self.sample(now);
                }
                break;
            }
            self.sample(now);
            if self.sampler.target_gone() && !matches!(self.config.watch, Watch::System) {
                // The sampler can see a started command gone before tokio has reaped it (a
                // race that lost "exited with code 0" under load): wait for its status, so
                // the event says how it ended.
                let status = match &mut self.child {
                    Some(c) => tokio::time::timeout(Duration::from_secs(5), c.wait())
                        .await
                        .ok()
                        .and_then(Result::ok),
                    None => None,
                };
                self.target_ended(status);
                break;
            }
            while next <= now {
                next = next.saturating_add(self.config.interval);
            }
            if let (Some(due), Some(c)) = (next_checkpoint, &self.config.checkpoint)
                && now >= due
            {
                let result = self.checkpoint(&c.path).await;
                // A big report (weeks of rollups) takes long to write: space the writes so
                // they never take more than 1/500 of the time (0.2 % of a core).
                let took = clock::now().saturating_duration_since(now);
                next_checkpoint = Some(now.saturating_add(c.every.max(took.saturating_mul(500))));
                self.emit(MonitorEvent::Checkpoint(result.err()));
            }
        }
        if let Some(child) = &mut self.child {
            // Best effort: it may have exited already.
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
        self.handle.report()
    }

    /// Writes the report so far to `path`, atomically and off the async threads.
    async fn checkpoint(&self, path: &std::path::Path) -> Result<(), String> {
        let handle = self.handle.clone();
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let report = handle.report();
            let json = serde_json::to_vec(&report).map_err(|e| e.to_string())?;
            crate::report_file::write_atomic(&path, &json)
                .map_err(|e| format!("cannot write the checkpoint {}: {e}", path.display()))
        })
        .await
        .map_err(|e| e.to_string())?
    }

    fn sample(&mut self, now: Instant) {
        let mut values = self.sampler.sample();
        let interval = std::mem::take(&mut *lock(&self.handle.shared.interval));
        let secs = self.config.interval.as_secs_f64();
        let n = interval.latency_us.count();
        if n > 0 {
            values.push((metrics::THROUGHPUT, n as f64 / secs));
            values.push((
                metrics::ERROR_RATE,
                interval.errors as f64 * 100.0 / n as f64,
            ));
            if let Some(mean) = interval.latency_us.mean() {
                values.push((metrics::LATENCY_MEAN, mean / 1000.0));
            }
            if let Some(p99) = interval.latency_us.quantile(0.99) {
                values.push((metrics::LATENCY_P99, p99 as f64 / 1000.0));
            }
        }
        values.extend(interval.extra);
        let components: Vec<Arc<dyn ComponentSource>> =
            lock(&self.handle.shared.components).clone();
        for c in components {
            values.extend(c.sample());
            let stats = c.stats();
            values.extend(self.component_series.sample(c.name(), &stats, secs));
        }
        let mut alerts = Vec::new();
        {
            let mut rec = lock(&self.handle.shared.recorder);
            rec.merge_latency_us(&interval.latency_us);
            rec.handle_sample(now, values.iter().copied());
            while let Some(a) = rec.poll_alert() {
                let advice = rec.recommendations().into_iter().find(|r| r.rule == a.rule);
                alerts.push((a, advice));
            }
        }
        self.handle.shared.samples.fetch_add(1, Ordering::Release);
        self.emit(MonitorEvent::Sample {
            elapsed: now.saturating_duration_since(self.start),
            values,
        });
        for (a, r) in alerts {
            let r = r.filter(|_| a.state == perfopt_core::rules::AlertState::Firing);
            self.emit(MonitorEvent::Alert(a, r));
        }
    }

    /// The target ended: the report records how and when (`meta.target.exit`), and the
    /// event says so.
    fn target_ended(&self, status: Option<std::process::ExitStatus>) {
        let (code, signal) = how_it_ended(status);
        lock(&self.handle.shared.recorder).set_target_exit(clock::now(), code, signal);
        self.emit(match signal {
            Some(sig) => MonitorEvent::TargetKilled(sig),
            None => MonitorEvent::TargetExited(code),
        });
    }

    fn emit(&self, ev: MonitorEvent) {
        if let Some(tx) = &self.events {
            // A dropped receiver only means nobody is watching.
            let _ = tx.send(ev);
        }
    }
}

async fn wait_child(child: &mut Option<tokio::process::Child>) -> Option<std::process::ExitStatus> {
    match child {
        Some(c) => c.wait().await.ok(),
        None => std::future::pending().await,
    }
}

/// How the target ended: `(exit code, signal that killed it)`, both `None` when unknown.
fn how_it_ended(status: Option<std::process::ExitStatus>) -> (Option<i32>, Option<i32>) {
    #[cfg(unix)]
    if let Some(sig) = status.and_then(|s| std::os::unix::process::ExitStatusExt::signal(&s)) {
        return (None, Some(sig));
    }
    (status.and_then(|s| s.code()), None)
}
