//! End to end, for runs that last: checkpoints survive `kill -9`, SIGHUP ends a run with a
//! final report, `--resume` continues a report, and `perfopt demo` under SIGTERM writes its
//! reports and removes its temporary folder. Every wait is for an event (a line of output, a
//! file that appears or changes, a process that exits), bounded by a deadline.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use perfopt_core::report::Report;
use perfopt_tests::{KillOnDrop, TempDir, perfopt_bin};

/// Waits until `f` gives `Some`, checking every 50 ms, for at most `limit`.
fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The report at `path`, once it exists and is valid.
fn valid_report(path: &Path) -> Option<Report> {
    perfopt::report_file::load(path).ok()
}

/// Lines of the child's stderr, as they come.
fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line containing `needle`.
fn wait_line(rx: &mpsc::Receiver<String>, needle: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(e) => panic!("no line with {needle:?} within {limit:?}: {e}"),
        }
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

fn wait_exit(child: &mut Child, limit: Duration) -> ExitStatus {
    wait_for(limit, "the process to exit", || child.try_wait().unwrap())
}

/// A process to watch: holds a few MiB for a minute, killed when dropped.
fn target() -> KillOnDrop {
    KillOnDrop(
        Command::new(perfopt_bin())
            .args(["stress", "--duration", "60s", "--threads", "0"])
            .args(["--mib-per-sec", "1", "--max-mib", "4"])
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn stress"),
    )
}

fn monitor(args: &[&str]) -> KillOnDrop {
    KillOnDrop(
        Command::new(perfopt_bin())
            .arg("monitor")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn perfopt monitor"),
    )
}

#[test]
fn kill_9_leaves_the_last_checkpoint_valid_and_readable() {
    let dir = TempDir::new("ckpt");
    let out = dir.path().join("r.json");
    let target = target();
    let pid = target.0.id().to_string();
    let out_s = out.to_str().unwrap();
    let mut mon = monitor(&[
        "--pid",
        &pid,
        "--interval",
        "200ms",
        "--checkpoint",
        "1s",
        "--out",
        out_s,
    ]);
    let _lines = stderr_lines(&mut mon.0);
    // A first checkpoint, then a later one: it is written periodically, not once.
    let first = wait_for(Duration::from_secs(20), "a first checkpoint", || {
        valid_report(&out)
    });
    let later = wait_for(Duration::from_secs(20), "a second checkpoint", || {
        valid_report(&out).filter(|r| r.series.len() > first.series.len())
    });
    signal(&mon.0, "-KILL");
    let status = wait_exit(&mut mon.0, Duration::from_secs(10));
    assert!(!status.success());
    let last = valid_report(&out).expect("the last checkpoint is a valid report");
    assert!(last.series.len() >= later.series.len());
    assert_eq!(last.meta.target.as_ref().unwrap().pid.to_string(), pid);
    assert!(
        !last.rollups.is_empty(),
        "checkpoints carry the rollup tiers"
    );
    // No temporary file is left next to it, and `report show` reads it.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let shown = Command::new(perfopt_bin())
        .args(["report", "show", out_s])
        .output()
        .unwrap();
    assert!(shown.status.success());
    assert!(String::from_utf8_lossy(&shown.stdout).contains("proc_rss_bytes"));
}

#[test]
fn sighup_ends_a_run_with_a_final_report() {
    let dir = TempDir::new("hup");
    let out = dir.path().join("r.json");
    let mut mon = monitor(&[
        "--interval",
        "200ms",
        "--checkpoint",
        "1h",
        "--out",
        out.to_str().unwrap(),
    ]);
    let lines = stderr_lines(&mut mon.0);
    // Two status lines: two samples taken.
    wait_line(&lines, "cpu", Duration::from_secs(20));
    wait_line(&lines, "cpu", Duration::from_secs(20));
    assert!(
        !out.exists(),
        "no checkpoint yet: the report must come from the signal"
    );
    signal(&mon.0, "-HUP");
    let status = wait_exit(&mut mon.0, Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    let report = valid_report(&out).expect("a final report");
    assert!(report.series.len() >= 2, "{}", report.series.len());
}

#[test]
fn resume_continues_the_same_report() {
    let dir = TempDir::new("resume");
    let out = dir.path().join("r.json");
    let out_s = out.to_str().unwrap();
    let target = target();
    let pid = target.0.id().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec!["--pid", &pid, "--interval", "200ms", "--duration", "2s"];
        args.extend_from_slice(extra);
        let mut mon = monitor(&args);
        let status = wait_exit(&mut mon.0, Duration::from_secs(30));
        assert!(status.success(), "{status:?}");
    };
    run(&["--out", out_s]);
    let first = valid_report(&out).expect("first report");
    // Without --out the resumed report goes back to the file it came from.
    run(&["--resume", out_s]);
    let second = valid_report(&out).expect("resumed report");
    assert_eq!(second.meta.started_at, first.meta.started_at);
    assert!(second.meta.ended_at > first.meta.ended_at);
    assert!(second.series.len() >= first.series.len() + 5);
    // The first run's samples are still there, unchanged, followed by the new ones.
    let n = first.series.len();
    assert_eq!(&second.series.t_ms()[..n], first.series.t_ms());
    for m in first.series.metrics() {
        if let Some(col) = second.series.column(m) {
            assert_eq!(&col[..n], first.series.column(m).unwrap(), "{m}");
        }
    }
    let rss = &second.summaries[perfopt_core::report::metrics::PROC_RSS].summary;
    let before = &first.summaries[perfopt_core::report::metrics::PROC_RSS].summary;
    assert_eq!(rss.count as usize, second.series.len());
    assert!(rss.count > before.count);
    // A report that is not a report is refused with one line and exit code 2.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{").unwrap();
    let o = Command::new(perfopt_bin())
        .args([
            "monitor",
            "--duration",
            "1s",
            "--resume",
            bad.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.json"));
}

#[test]
fn demo_under_sigterm_writes_its_reports_and_removes_its_temp_folder() {
    let dir = TempDir::new("demo-term");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let (json, html) = (dir.path().join("r.json"), dir.path().join("r.html"));
    let mut demo = KillOnDrop(
        Command::new(perfopt_bin())
            .args(["demo", "--clients", "4", "--rate", "5", "--duration", "60s"])
            .args(["--users", "100", "--out", json.to_str().unwrap()])
            .args(["--html", html.to_str().unwrap()])
            .env("TMPDIR", &tmp)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn perfopt demo"),
    );
    let lines = stderr_lines(&mut demo.0);
    wait_line(&lines, "chat server on", Duration::from_secs(60));
    // The folder's name is unpredictable (issue 11): the one `perfopt-demo*` in $TMPDIR.
    let demo_dirs: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("perfopt-demo"))
        })
        .collect();
    assert_eq!(
        demo_dirs.len(),
        1,
        "one demo folder in {}: {demo_dirs:?}",
        tmp.display()
    );
    let data = demo_dirs[0].clone();
    assert!(data.is_dir(), "the demo's temp folder exists while it runs");
    // Progress lines (one at the start, then every 2 s): the clients are sending and the
    // monitor (1 s interval) has sampled.
    wait_line(&lines, "sent", Duration::from_secs(30));
    wait_line(&lines, "sent", Duration::from_secs(30));
    signal(&demo.0, "-TERM");
    let status = wait_exit(&mut demo.0, Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    let report = valid_report(&json).expect("the report so far");
    assert!(!report.series.is_empty());
    assert!(html.exists(), "the HTML report too");
    assert!(!data.exists(), "{} was left behind", data.display());
}
