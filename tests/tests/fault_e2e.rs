//! Faults, end to end with the real binary (issue 11): the watched command exits with a code
//! or is SIGKILLed (perfopt says which and still writes its report), the report folder
//! becomes unwritable mid-run (one clear error, the previous file intact), and SIGKILL in the
//! middle of a report write (the previous file intact, never half a file).
//!
//! Every wait is for an event (a line of output, a process state) with a deadline.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use perfopt_tests::{KillOnDrop, TempDir, perfopt_bin};

/// Starts `perfopt args…` with stderr lines forwarded to a channel; the output is kept.
fn spawn_with_stderr(args: &[&str]) -> (KillOnDrop, mpsc::Receiver<String>) {
    let mut child = Command::new(perfopt_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn perfopt");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (KillOnDrop(child), rx)
}

/// Waits for a stderr line containing `needle`; returns every line seen until then.
fn wait_line(rx: &mpsc::Receiver<String>, needle: &str, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let hit = line.contains(needle);
                seen.push(line);
                if hit {
                    return seen;
                }
            }
            Err(_) => panic!("no line with {needle:?} within {within:?}; saw {seen:#?}"),
        }
    }
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "still running after {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The report at `out` and how its target ended (`meta.target.exit`).
fn report_and_exit(
    out: &Path,
) -> (
    perfopt_core::report::Report,
    perfopt_core::report::TargetExit,
) {
    let report = perfopt::report_file::load(out).expect("the report is written");
    let exit = report
        .meta
        .target
        .as_ref()
        .and_then(|t| t.exit)
        .expect("meta.target.exit");
    (report, exit)
}

fn run(args: &[&str]) -> Output {
    Command::new(perfopt_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run perfopt")
}

#[test]
fn the_final_report_says_the_command_exited_with_its_code() {
    let dir = TempDir::new("fault-exit");
    let out = dir.path().join("r.json");
    let o = run(&[
        "monitor",
        "--interval",
        "250ms",
        "--out",
        out.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "sleep 1; exit 3",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("target exited with code 3"), "{stderr}");
    let (report, exit) = report_and_exit(&out);
    assert_eq!((exit.code, exit.signal), (Some(3), None));
    // It slept a second before exiting; the run ended with it.
    assert!(
        (900..=report.duration().as_millis() as u64 + 10).contains(&exit.at_ms),
        "{exit:?}"
    );
    let shown = run(&["report", "show", out.to_str().unwrap()]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("exited with code 3 at "), "{shown}");
}

/// The children of `pid` (Linux).
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn the_final_report_says_the_command_was_killed() {
    let dir = TempDir::new("fault-kill");
    let out = dir.path().join("r.json");
    let (mut monitor, rx) = spawn_with_stderr(&[
        "monitor",
        "--interval",
        "250ms",
        "--out",
        out.to_str().unwrap(),
        "--",
        "sleep",
        "30",
    ]);
    // The first status line means the child runs and is being sampled.
    wait_line(&rx, "rss", Duration::from_secs(20));
    let kids = children(monitor.0.id());
    assert_eq!(kids.len(), 1, "{kids:?}");
    let status = Command::new("kill")
        .args(["-KILL", &kids[0].to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_line(&rx, "killed by signal 9", Duration::from_secs(10));
    let status = wait_exit(&mut monitor.0, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    let (_, exit) = report_and_exit(&out);
    assert_eq!((exit.code, exit.signal), (None, Some(9)));
}

/// Makes `dir` unwritable even for root (an immutable folder), or with permissions when not
/// root. Returns the command that undoes it.
fn make_unwritable(dir: &Path) -> Box<dyn Fn()> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let d = dir.to_path_buf();
    if root {
        let ok = Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "chattr +i failed: root needs an ext4-like file system here"
        );
        Box::new(move || {
            let _ = Command::new("chattr").arg("-i").arg(&d).status();
        })
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o500)).unwrap();
        Box::new(move || {
            let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700));
        })
    }
}

#[cfg(target_os = "linux")]
#[test]
fn an_unwritable_report_folder_gives_one_clear_error_and_keeps_the_last_good_file() {
    let dir = TempDir::new("fault-ro");
    let reports = dir.path().join("reports");
    std::fs::create_dir(&reports).unwrap();
    let out = reports.join("r.json");
    // The last good report, from an earlier run.
    let first = run(&[
        "monitor",
        "--interval",
        "250ms",
        "--duration",
        "500ms",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(first.status.success());
    let good = std::fs::read(&out).unwrap();

    let (mut monitor, rx) = spawn_with_stderr(&[
        "monitor",
        "--interval",
        "250ms",
        "--duration",
        "2s",
        "--out",
        out.to_str().unwrap(),
    ]);
    wait_line(&rx, "cpu", Duration::from_secs(20));
    let undo = make_unwritable(&reports);
    let status = wait_exit(&mut monitor.0, Duration::from_secs(20));
    undo();
    let lines: Vec<String> = rx.try_iter().collect();
    let errors: Vec<&String> = lines.iter().filter(|l| l.contains("error")).collect();
    assert_eq!(status.code(), Some(1), "{lines:#?}");
    assert_eq!(errors.len(), 1, "{lines:#?}");
    assert!(
        errors[0].starts_with("perfopt: error: cannot write the report to ")
            && errors[0].contains("r.json"),
        "{errors:?}"
    );
    assert_eq!(
        std::fs::read(&out).unwrap(),
        good,
        "the last good file changed"
    );
    // Nothing left behind in the folder.
    assert_eq!(std::fs::read_dir(&reports).unwrap().count(), 1);
}

#[cfg(unix)]
#[test]
fn sigkill_during_a_report_write_never_leaves_half_a_file() {
    let dir = TempDir::new("fault-sigkill");
    // Two different reports, big enough that writing the HTML takes a while.
    let a = dir.path().join("a.json");
    let b = dir.path().join("b.json");
    for (path, ms) in [(&a, "500ms"), (&b, "750ms")] {
        let o = run(&[
            "monitor",
            "--interval",
            "250ms",
            "--duration",
            ms,
            "--out",
            path.to_str().unwrap(),
        ]);
        assert!(o.status.success());
    }
    let out = dir.path().join("out.html");
    let html = |src: &Path| {
        let o = run(&[
            "report",
            "html",
            src.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success());
        std::fs::read(&out).unwrap()
    };
    let html_b = html(&b);
    let html_a = html(&a);
    assert_ne!(html_a, html_b);
    // How long a whole write takes, to spread the kills over it.
    let started = Instant::now();
    html(&a);
    let full = started.elapsed();
    let mut interrupted = 0;
    for i in 0..24u32 {
        let src = if i % 2 == 0 { &b } else { &a };
        let before = std::fs::read(&out).unwrap();
        let mut child = Command::new(perfopt_bin())
            .args(["report", "html", src.to_str().unwrap(), "--out"])
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64(f64::from(i % 12) / 12.0));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if !status.success() {
            interrupted += 1;
        }
        let now = std::fs::read(&out).unwrap();
        assert!(
            now == html_a || now == html_b,
            "kill {i}: out.html is neither complete report ({} bytes)",
            now.len()
        );
        // Killed before the rename: the previous file; after it: the new one, whole.
        let new = if src == &a { &html_a } else { &html_b };
        assert!(now == before || &now == new, "kill {i}: unexpected content");
    }
    assert!(
        interrupted >= 6,
        "only {interrupted} of 24 writes were interrupted"
    );
}

#[test]
fn serving_beyond_loopback_needs_a_token_before_anything_is_bound() {
    let dir = TempDir::new("fault-token");
    let out = dir.path().join("r.json");
    assert!(
        run(&[
            "monitor",
            "--interval",
            "250ms",
            "--duration",
            "300ms",
            "--out",
            out.to_str().unwrap()
        ])
        .status
        .success()
    );
    // Checked before binding: this test never listens beyond loopback.
    let o = Command::new(perfopt_bin())
        .args(["serve", "--addr", "0.0.0.0:0"])
        .arg(&out)
        .env_remove("PERFOPT_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("refusing to serve on 0.0.0.0:0 without a token")
            && stderr.contains("--token"),
        "{stderr}"
    );
    let o = run(&[
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--token",
        "short",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("too short"));
}
