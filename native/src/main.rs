//! The `perfopt` command line.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use perfopt::http::{self, ReportSource, SavedReport};
use perfopt::monitor::{
    Checkpoint, Monitor, MonitorConfig, MonitorError, MonitorEvent, MonitorHandle, Watch,
};
use perfopt::{report_file, show, workload};
use perfopt_core::leak::LeakConfig;
use perfopt_core::report::Report;
use perfopt_core::report::metrics::{self, format_value};

/// With `--features alloc-count`, profile scopes also count the bytes allocated inside them.
#[cfg(feature = "alloc-count")]
#[global_allocator]
static ALLOC: perfopt::alloc_count::CountingAlloc = perfopt::alloc_count::CountingAlloc;

#[derive(Parser, Debug)]
#[command(
    name = "perfopt",
    version,
    about = "Performance monitor, reports and viewer for async services"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run a real chat-room server under load on loopback, instrumented with every perfopt
    /// component, and write report.json and a self-contained report.html.
    Demo(DemoArgs),
    /// Sample the system (and a process) every interval, evaluate the rules, write a report.
    Monitor(MonitorArgs),
    /// Work with saved reports.
    Report {
        #[command(subcommand)]
        cmd: ReportCmd,
    },
    /// Serve the viewer for a saved report.
    Serve {
        /// The report file.
        file: PathBuf,
        /// Address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Bearer token required of every request (or set PERFOPT_TOKEN); mandatory when
        /// the address is not loopback.
        #[arg(long)]
        token: Option<String>,
    },
    /// Print the default rules as JSON.
    Rules,
    /// Run a bounded synthetic workload (CPU spin + steady allocation) to try perfopt on.
    Stress {
        /// How long to run.
        #[arg(long, default_value = "20s", value_parser = parse_duration)]
        duration: Duration,
        /// Spinning threads.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// MiB to allocate and keep per second.
        #[arg(long, default_value_t = 4)]
        mib_per_sec: u64,
        /// Stop allocating past this many MiB.
        #[arg(long, default_value_t = 256)]
        max_mib: u64,
        /// Free everything held this often (a GC-style sawtooth).
        #[arg(long, value_parser = parse_duration)]
        free_every: Option<Duration>,
    },
}

#[derive(clap::Args, Debug)]
struct DemoArgs {
    /// Simulated users (TCP connections), 1-5000.
    #[arg(long, default_value_t = 200)]
    clients: u32,
    /// Messages per second per client.
    #[arg(long, default_value_t = 5.0)]
    rate: f64,
    /// How long the clients send (1s-1h).
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    duration: Duration,
    /// Users in the SQLite database.
    #[arg(long, default_value_t = 10_000)]
    users: u32,
    /// Profile cache capacity, entries (try 100 to see the cache-hit-rate advice).
    #[arg(long, default_value_t = 5_000)]
    cache_size: u64,
    /// Maximum SQLite connections in the pool.
    #[arg(long, default_value_t = 4)]
    pool_size: usize,
    /// Limiter algorithm.
    #[arg(long, value_enum, default_value_t = LimiterArg::Gradient)]
    limiter: LimiterArg,
    /// Users per chat room.
    #[arg(long, default_value_t = 10)]
    room_size: u32,
    /// Where to write the report (atomically).
    #[arg(long, default_value = "report.json")]
    out: PathBuf,
    /// Where to write the self-contained HTML report.
    #[arg(long, default_value = "report.html")]
    html: PathBuf,
    /// Serve the live viewer on this address while the demo runs (and the final report
    /// after it, until Ctrl-C).
    #[arg(long)]
    serve: Option<SocketAddr>,
    /// Bearer token required of every request to --serve (or set PERFOPT_TOKEN); mandatory
    /// when the address is not loopback.
    #[arg(long)]
    token: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LimiterArg {
    Fixed,
    Aimd,
    Gradient,
}

#[derive(clap::Args, Debug)]
struct MonitorArgs {
    /// Watch this existing process.
    #[arg(long, conflicts_with = "command")]
    pid: Option<u32>,
    /// Time between samples (e.g. 500ms, 1s, 2m).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    interval: Duration,
    /// Stop after this long (default: until Ctrl-C or until the command exits).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Where to write the report (atomically; default report.json, or the --resume file).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write the report so far to --out every this long (a kill loses at most one interval).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    checkpoint: Duration,
    /// Continue this report (series, rollups, summaries, alert states) instead of starting
    /// a new one.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Serve the live viewer, /api/report and /metrics on this address while running.
    #[arg(long)]
    serve: Option<SocketAddr>,
    /// Bearer token required of every request to --serve (or set PERFOPT_TOKEN); mandatory
    /// when the address is not loopback.
    #[arg(long)]
    token: Option<String>,
    /// Leak analysis: ignore the target's RSS during this first stretch.
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    leak_warmup: Duration,
    /// Leak analysis: width of the buckets whose minimum is the RSS floor.
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    leak_window: Duration,
    /// The command to start and watch, after `--`.
    #[arg(last = true)]
    command: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum ReportCmd {
    /// Write a self-contained HTML report (opens from file://, no server).
    Html {
        /// The report file.
        file: PathBuf,
        /// Where to write the HTML (atomically).
        #[arg(long, default_value = "report.html")]
        out: PathBuf,
    },
    /// Merge the reports of many hosts into one fleet report (histograms merge exactly).
    Merge {
        /// The reports (at least two, same interval and rules).
        #[arg(required = true, num_args = 2..)]
        files: Vec<PathBuf>,
        /// Where to write the fleet report (atomically).
        #[arg(short, long)]
        out: PathBuf,
    },
    /// A CI gate: exit 1 with one line per rule that fired (at --fail-on severity or
    /// above) and per figure worse than --baseline by more than --max-regression.
    Check {
        /// The report to check.
        file: PathBuf,
        /// Re-evaluate the report's series with these rules (JSON, as `perfopt rules`).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// An earlier report to compare with.
        #[arg(long)]
        baseline: Option<PathBuf>,
        /// Allowed worsening of mean/p50/p95/p99 against the baseline (e.g. 10%).
        #[arg(long, default_value = "10%", value_parser = perfopt::fleet::parse_percent, requires = "baseline")]
        max_regression: f64,
        /// The least severity that fails the check.
        #[arg(long, value_enum, default_value_t = FailOn::Critical)]
        fail_on: FailOn,
    },
    /// Print a report as tables (or as JSON).
    Show {
        /// The report file.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FailOn {
    Info,
    Warning,
    Critical,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Table,
    Json,
}

/// A failure with the exit code it deserves: 2 for bad input, 1 for anything else.
struct Failure {
    code: u8,
    message: String,
}

fn bad_input(message: impl ToString) -> Failure {
    Failure {
        code: 2,
        message: message.to_string(),
    }
}

fn failure(message: impl ToString) -> Failure {
    Failure {
        code: 1,
        message: message.to_string(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("perfopt: error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("perfopt: error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.cmd {
        Cmd::Demo(args) => demo(args).await,
        Cmd::Monitor(args) => monitor(args).await,
        Cmd::Report {
            cmd: ReportCmd::Html { file, out },
        } => {
            let report = report_file::load(&file).map_err(bad_input)?;
            check_out_dir(&out)?;
            perfopt::html_report::write(&out, &report)
                .map_err(|e| failure(format!("cannot write {}: {e}", out.display())))?;
            println!("perfopt: wrote {}", out.display());
            Ok(())
        }
        Cmd::Report {
            cmd: ReportCmd::Show { file, format },
        } => {
            let report = report_file::load(&file).map_err(bad_input)?;
            match format {
                Format::Table => print!("{}", show::render(&report)),
                Format::Json => println!("{}", report.to_json_pretty()),
            }
            Ok(())
        }
        Cmd::Report {
            cmd: ReportCmd::Merge { files, out },
        } => {
            let report = perfopt::fleet::merge_files(&files).map_err(bad_input)?;
            check_out_dir(&out)?;
            report_file::save(&out, &report)
                .map_err(|e| failure(format!("cannot write {}: {e}", out.display())))?;
            println!(
                "perfopt: merged {} reports ({}) into {}",
                files.len(),
                report.meta.host,
                out.display()
            );
            Ok(())
        }
        Cmd::Report {
            cmd:
                ReportCmd::Check {
                    file,
                    rules,
                    baseline,
                    max_regression,
                    fail_on,
                },
        } => {
            use perfopt_core::rules::Severity;
            let config = perfopt::fleet::CheckConfig {
                rules,
                baseline,
                max_regression_pct: max_regression,
                fail_on: Some(match fail_on {
                    FailOn::Info => Severity::Info,
                    FailOn::Warning => Severity::Warning,
                    FailOn::Critical => Severity::Critical,
                }),
            };
            let outcome = perfopt::fleet::check(&file, &config).map_err(bad_input)?;
            for line in &outcome.failures {
                println!("{line}");
            }
            if outcome.failures.is_empty() {
                println!("perfopt: check passed: {}", outcome.summary);
                Ok(())
            } else {
                Err(failure(format!(
                    "check failed ({} problem(s)): {}",
                    outcome.failures.len(),
                    outcome.summary
                )))
            }
        }
        Cmd::Serve { file, addr, token } => {
            let options = serve_options(addr, token)?;
            let report = report_file::load(&file).map_err(bad_input)?;
            let listener = bind(addr).await?;
            let url = url_of(&listener);
            println!(
                "perfopt: serving {} at {url} (Ctrl-C to stop)",
                file.display()
            );
            flush();
            http::serve_with(
                listener,
                Arc::new(SavedReport(report)),
                options,
                stop_signal(),
            )
            .await
            .map_err(failure)
        }
        Cmd::Rules => {
            let rules = perfopt_core::rules::default_rules();
            println!("{}", serde_json::to_string_pretty(&rules).map_err(failure)?);
            Ok(())
        }
        Cmd::Stress {
            duration,
            threads,
            mib_per_sec,
            max_mib,
            free_every,
        } => {
            let held = tokio::task::spawn_blocking(move || {
                workload::run(workload::Stress {
                    duration,
                    threads,
                    mib_per_sec,
                    max_mib,
                    free_every,
                })
            })
            .await
            .map_err(failure)?;
            println!("perfopt stress: done, {held} MiB held at the end");
            Ok(())
        }
    }
}

/// The HTTP server of `--serve`: the live report while the run goes on, then the final one
/// until Ctrl-C.
struct LiveServer {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl LiveServer {
    async fn start(
        serve: Option<(SocketAddr, http::ServeOptions)>,
        live: Arc<Live>,
    ) -> Result<Option<LiveServer>, Failure> {
        let Some((addr, options)) = serve else {
            return Ok(None);
        };
        let listener = bind(addr).await?;
        println!("perfopt: live viewer at {}", url_of(&listener));
        flush();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let source: Arc<dyn ReportSource> = live;
        let task = tokio::spawn(http::serve_with(listener, source, options, async move {
            let _ = stopped.await;
        }));
        Ok(Some(LiveServer { stop, task }))
    }

    /// After the run: serve the final report until Ctrl-C or SIGTERM.
    async fn serve_final(self, what: &str) {
        println!("perfopt: {what} finished; still serving the final report (Ctrl-C to stop)");
        flush();
        stop_signal().await;
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// The live report while the monitor runs, then the final one.
struct Live {
    handle: MonitorHandle,
    done: OnceLock<Report>,
}

impl ReportSource for Live {
    fn report(&self) -> Report {
        match self.done.get() {
            Some(r) => r.clone(),
            None => self.handle.report(),
        }
    }

    fn version(&self) -> Option<u64> {
        match self.done.get() {
            Some(_) => Some(u64::MAX),
            None => Some(self.handle.samples_taken()),
        }
    }
}

async fn monitor(args: MonitorArgs) -> Result<(), Failure> {
    let watch = match (args.pid, args.command.is_empty()) {
        (Some(pid), _) => Watch::Pid(pid),
        (None, false) => Watch::Command(args.command.clone()),
        (None, true) => Watch::System,
    };
    // Handle SIGINT, SIGTERM and SIGHUP from now on: each ends the run with a final report.
    let stop = stop_signal();
    let resume = match &args.resume {
        Some(path) => Some(report_file::load(path).map_err(bad_input)?),
        None => None,
    };
    let out = args
        .out
        .clone()
        .or_else(|| args.resume.clone())
        .unwrap_or_else(|| PathBuf::from("report.json"));
    let config = MonitorConfig {
        interval: args.interval,
        duration: args.duration,
        watch,
        leak: LeakConfig {
            warmup: args.leak_warmup,
            envelope: args.leak_window,
            ..LeakConfig::default()
        },
        checkpoint: Some(Checkpoint {
            path: out.clone(),
            every: args.checkpoint,
        }),
        resume,
        ..MonitorConfig::default()
    };
    // Check the output folder and the server settings before spending a whole run on them.
    check_out_dir(&out)?;
    let serve = live_serve_options(args.serve, args.token.clone())?;
    let mut monitor = Monitor::start(config).map_err(|e| match e {
        MonitorError::Spawn(..)
        | MonitorError::Sampler(_)
        | MonitorError::IntervalTooShort(_)
        | MonitorError::EmptyCommand
        | MonitorError::Resume(_) => bad_input(e),
        other => failure(other),
    })?;
    let live = Arc::new(Live {
        handle: monitor.handle(),
        done: OnceLock::new(),
    });
    let server = LiveServer::start(serve, live.clone()).await?;
    let events = monitor.events();
    let printer = tokio::spawn(print_events(events));
    let report = monitor.run(stop).await;
    let _ = printer.await;
    report_file::save(&out, &report)
        .map_err(|e| failure(format!("cannot write the report to {}: {e}", out.display())))?;
    println!(
        "perfopt: {} samples, {} recommendation(s); report written to {}",
        report.series.len(),
        report.recommendations.len(),
        out.display()
    );
    if let Some(server) = server {
        let _ = live.done.set(report);
        server.serve_final("run").await;
    }
    Ok(())
}

async fn demo(args: DemoArgs) -> Result<(), Failure> {
    use perfopt::demo::{Demo, DemoConfig, DemoError, LimiterKind};
    // From here on SIGINT, SIGTERM and SIGHUP end the demo early, with its reports written
    // and its temporary folder removed.
    let stop = stop_signal();
    for path in [&args.out, &args.html] {
        check_out_dir(path)?;
    }
    let serve = live_serve_options(args.serve, args.token.clone())?;
    let config = DemoConfig {
        clients: args.clients,
        rate: args.rate,
        duration: args.duration,
        users: args.users,
        cache_size: args.cache_size,
        pool_size: args.pool_size,
        limiter: match args.limiter {
            LimiterArg::Fixed => LimiterKind::Fixed,
            LimiterArg::Aimd => LimiterKind::Aimd,
            LimiterArg::Gradient => LimiterKind::Gradient,
        },
        room_size: args.room_size,
        data_dir: None,
        instrumented: true,
        closed_loop: false,
    };
    println!(
        "perfopt demo: {} clients x {} msg/s for {:?}; {} users in SQLite; cache {} entries; pool {}; limiter {:?}",
        config.clients,
        config.rate,
        config.duration,
        config.users,
        config.cache_size,
        config.pool_size,
        config.limiter
    );
    let demo = Demo::start(config).map_err(|e| match e {
        DemoError::Config(_) => bad_input(e),
        other => failure(other),
    })?;
    let live = Arc::new(Live {
        handle: demo.handle(),
        done: OnceLock::new(),
    });
    let server = LiveServer::start(serve, live.clone()).await?;
    flush();
    let handle = demo.handle();
    // Dropping the demo's future on a signal drops its temporary folder (removed on drop).
    let (report, summary, interrupted) = tokio::select! {
        outcome = demo.run() => {
            let outcome = outcome.map_err(failure)?;
            (outcome.report, outcome.summary, false)
        }
        () = stop => {
            let note = "\nperfopt demo: interrupted; writing the report so far\n";
            (handle.report(), String::from(note), true)
        }
    };
    eprintln!();
    print!("{summary}");
    report_file::save(&args.out, &report).map_err(|e| {
        failure(format!(
            "cannot write the report to {}: {e}",
            args.out.display()
        ))
    })?;
    perfopt::html_report::write(&args.html, &report)
        .map_err(|e| failure(format!("cannot write {}: {e}", args.html.display())))?;
    println!(
        "\nperfopt: wrote {} and {} (open it in a browser; `perfopt report show {}` for tables)",
        args.out.display(),
        args.html.display(),
        args.out.display()
    );
    if let Some(server) = server {
        if interrupted {
            let _ = server.stop.send(());
            let _ = server.task.await;
        } else {
            let _ = live.done.set(report);
            server.serve_final("demo").await;
        }
    }
    Ok(())
}

/// The server's options for `addr`: the token from `--token` or the environment, checked
/// against the address (a warning is printed when it is not loopback).
fn serve_options(addr: SocketAddr, token: Option<String>) -> Result<http::ServeOptions, Failure> {
    let token = token.or_else(|| {
        std::env::var(http::TOKEN_ENV)
            .ok()
            .filter(|t| !t.is_empty())
    });
    if let Some(warning) = http::check_exposure(addr, token.as_deref()).map_err(bad_input)? {
        eprintln!("perfopt: {warning}");
    }
    Ok(http::ServeOptions {
        token,
        ..http::ServeOptions::default()
    })
}

fn live_serve_options(
    addr: Option<SocketAddr>,
    token: Option<String>,
) -> Result<Option<(SocketAddr, http::ServeOptions)>, Failure> {
    addr.map(|a| serve_options(a, token).map(|o| (a, o)))
        .transpose()
}

/// Fails early when the folder of an output file does not exist.
fn check_out_dir(path: &std::path::Path) -> Result<(), Failure> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) if !dir.is_dir() => Err(bad_input(format!(
            "{}: folder {} does not exist",
            path.display(),
            dir.display()
        ))),
        _ => Ok(()),
    }
}

async fn print_events(mut events: tokio::sync::mpsc::UnboundedReceiver<MonitorEvent>) {
    let status = perfopt::status_line::StatusLine::new();
    while let Some(ev) = events.recv().await {
        match ev {
            MonitorEvent::Sample { elapsed, values } => {
                status.show(&status_line(elapsed, &values));
            }
            MonitorEvent::Alert(a, rec) => {
                let state = serde_json::to_value(a.state).ok();
                let state = state.as_ref().and_then(|v| v.as_str()).unwrap_or("?");
                status.clear();
                match rec {
                    Some(r) => {
                        let unit = metrics::lookup(&r.evidence.metric)
                            .map_or(metrics::Unit::Count, |d| d.unit);
                        eprintln!(
                            "ALERT {} {state}: {} (observed {}, threshold {})\n      advice: {}",
                            a.rule,
                            r.message,
                            format_value(r.evidence.observed, unit),
                            format_value(r.evidence.threshold, unit),
                            r.advice
                        );
                    }
                    None => eprintln!(
                        "alert {} {state} at {:.1} s",
                        a.rule,
                        a.at_ms as f64 / 1000.0
                    ),
                }
            }
            MonitorEvent::Checkpoint(Some(error)) => {
                status.clear();
                eprintln!("perfopt: warning: {error}");
            }
            MonitorEvent::TargetExited(code) => {
                status.clear();
                match code {
                    Some(c) => eprintln!("perfopt: target exited with code {c}"),
                    None => eprintln!("perfopt: target exited"),
                }
            }
            MonitorEvent::TargetKilled(signal) => {
                status.clear();
                eprintln!("perfopt: target was killed by signal {signal}");
            }
            _ => {}
        }
    }
    status.finish();
}

fn status_line(elapsed: Duration, values: &[(&str, f64)]) -> String {
    let get = |name: &str| values.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    let mut line = format!("[{:>6.1}s]", elapsed.as_secs_f64());
    let fields = [
        ("cpu", metrics::SYS_CPU),
        ("mem", metrics::SYS_MEM),
        ("proc cpu", metrics::PROC_CPU),
        ("rss", metrics::PROC_RSS),
        ("threads", metrics::PROC_THREADS),
        ("req/s", metrics::THROUGHPUT),
        ("p99", metrics::LATENCY_P99),
    ];
    for (label, name) in fields {
        if let (Some(v), Some(d)) = (get(name), metrics::lookup(name)) {
            line.push_str(&format!("  {label} {}", format_value(v, d.unit)));
        }
    }
    line
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, Failure> {
    http::bind(addr).await.map_err(|e| {
        bad_input(format!(
            "cannot listen on {addr}: {e} (pick another --addr/--serve port)"
        ))
    })
}

fn url_of(listener: &tokio::net::TcpListener) -> String {
    match listener.local_addr() {
        Ok(a) => format!("http://{a}/"),
        Err(_) => String::from("(unknown address)"),
    }
}

fn flush() {
    let _ = std::io::stdout().flush();
}

/// Completes on SIGINT (Ctrl-C), SIGTERM or SIGHUP (a closed terminal). The handlers are
/// installed when this is called, not when it is first polled, so a signal that arrives in
/// between is not lost (and does not kill the process).
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        let mut streams: Vec<Signal> = [
            SignalKind::interrupt(),
            SignalKind::terminate(),
            SignalKind::hangup(),
        ]
        .into_iter()
        .filter_map(|k| signal(k).ok())
        .collect();
        async move {
            if streams.is_empty() {
                std::future::pending::<()>().await;
            }
            let waits = streams.iter_mut().map(|s| Box::pin(s.recv()));
            let _ = futures_util::future::select_all(waits).await;
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Parses `250ms`, `1s`, `1.5s`, `2m`, `1h`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().map_err(|_| {
        format!("{s:?} is not a duration: use a number with a unit, like 500ms, 1s or 2m")
    })?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" | "" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("unknown unit {unit:?} in {s:?}: use ms, s, m or h")),
    };
    if secs.is_nan() || secs <= 0.0 || !secs.is_finite() {
        return Err(format!("{s:?}: the duration must be greater than zero"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }
}
