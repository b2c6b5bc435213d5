//! End to end: `perfopt monitor -- <a program that leaks steadily>` ends with the
//! `memory_leak` recommendation and a `leak` verdict; a program that allocates once and
//! holds its memory does not.

use std::process::{Command, Stdio};

use perfopt_core::leak::Verdict;
use perfopt_core::report::Report;
use perfopt_tests::{TempDir, perfopt_bin};

/// Monitors `perfopt stress --threads 0 --mib-per-sec RATE --max-mib MAX` for 8 s, with the
/// leak analysis scaled to a short run (2 s warm-up, 500 ms floor buckets).
fn monitor_stress(rate: &str, max: &str) -> Report {
    let dir = TempDir::new("leak");
    let out = dir.path().join("r.json");
    let bin = perfopt_bin();
    let status = Command::new(&bin)
        .args(["monitor", "--interval", "250ms", "--duration", "8s"])
        .args(["--leak-warmup", "2s", "--leak-window", "500ms", "--out"])
        .arg(&out)
        .arg("--")
        .arg(&bin)
        .args([
            "stress",
            "--duration",
            "60s",
            "--threads",
            "0",
            "--mib-per-sec",
            rate,
        ])
        .args(["--max-mib", max])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    perfopt::report_file::load(&out).unwrap()
}

#[test]
fn a_steadily_leaking_process_gets_the_leak_recommendation() {
    let report = monitor_stress("16", "2000");
    let memory = report.memory.as_ref().expect("memory analysis");
    assert_eq!(memory.leak.verdict, Verdict::Leak, "{memory:?}");
    // 16 MiB/s is about 60,000 MB/h.
    assert!(memory.leak.slope_mb_per_h > 20_000.0, "{memory:?}");
    assert!(memory.leak.projected_exhaustion_s.is_some());
    let rec = report
        .recommendations
        .iter()
        .find(|r| r.rule == "memory_leak")
        .unwrap_or_else(|| {
            panic!(
                "no memory_leak recommendation: {:?}",
                report.recommendations
            )
        });
    assert!(rec.evidence.observed > 20_000.0, "{rec:?}");
}

#[test]
fn a_process_that_allocates_once_and_holds_is_not_leaking() {
    // 64 MiB in the first second, then flat.
    let report = monitor_stress("64", "64");
    let memory = report.memory.as_ref().expect("memory analysis");
    assert_eq!(memory.leak.verdict, Verdict::None, "{memory:?}");
    assert!(
        report
            .recommendations
            .iter()
            .all(|r| r.rule != "memory_leak")
    );
}

// ---------------------------------------------------------------------------------------
// Fast verdicts on real processes, with the default leak settings and a 1 s interval.

use perfopt_core::report::metrics;

/// Starts `perfopt monitor --interval 1s --checkpoint 1s -- perfopt stress <stress>`.
fn monitor_default(out: &std::path::Path, duration: &str, stress: &[&str]) -> std::process::Child {
    let bin = perfopt_bin();
    Command::new(&bin)
        .args(["monitor", "--interval", "1s", "--checkpoint", "1s"])
        .args(["--duration", duration, "--out"])
        .arg(out)
        .arg("--")
        .arg(&bin)
        .args(["stress", "--duration", "120s", "--threads", "0"])
        .args(stress)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Report time (ms) of the first sample with a non-zero `mem_leak_mb_per_h`.
fn first_flagged(report: &Report) -> Option<u64> {
    let col = report.series.column(metrics::MEM_LEAK)?;
    report
        .series
        .t_ms()
        .iter()
        .zip(col)
        .find(|(_, v)| v.is_some_and(|v| v > 0.0))
        .map(|(t, _)| *t)
}

#[test]
fn steep_growth_of_a_real_process_is_named_within_60_seconds() {
    let dir = TempDir::new("fast-leak");
    let out = dir.path().join("r.json");
    // About 8 MiB/s, steadily, up to 700 MiB.
    let mut child = perfopt_tests::KillOnDrop(monitor_default(
        &out,
        "90s",
        &["--mib-per-sec", "8", "--max-mib", "700"],
    ));
    // Wait for the event: a checkpoint whose verdict is growth.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(85);
    let report = loop {
        if let Ok(r) = perfopt::report_file::load(&out)
            && r.memory
                .as_ref()
                .is_some_and(|m| m.leak.verdict == Verdict::Growth)
        {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no growth verdict in time"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let _ = child.0.kill();
    let leak = &report.memory.as_ref().unwrap().leak;
    // 8 MiB/s is about 30,000 MB/h.
    assert!(leak.slope_mb_per_h > 10_000.0, "{leak:?}");
    assert!(leak.projected_exhaustion_s.is_some(), "{leak:?}");
    let at = first_flagged(&report).expect("mem_leak_mb_per_h recorded");
    assert!(at <= 60_000, "named {at} ms into the run");
    assert!(
        report
            .recommendations
            .iter()
            .any(|r| r.rule == "memory_leak"),
        "{:?}",
        report.recommendations
    );
}

/// Monitors 65 s of `stress` and checks that nothing was called growth or a leak.
fn never_flagged(stress: &[&str]) {
    let dir = TempDir::new("no-leak");
    let out = dir.path().join("r.json");
    let mut child = perfopt_tests::KillOnDrop(monitor_default(&out, "65s", stress));
    let status = child.0.wait().unwrap();
    assert!(status.success());
    let report = perfopt::report_file::load(&out).unwrap();
    assert!(report.series.len() >= 60, "{}", report.series.len());
    let memory = report.memory.as_ref().expect("memory analysis");
    assert!(
        !matches!(memory.leak.verdict, Verdict::Growth | Verdict::Leak),
        "{memory:?}"
    );
    assert_eq!(first_flagged(&report), None);
    assert!(
        report
            .recommendations
            .iter()
            .all(|r| r.rule != "memory_leak"),
        "{:?}",
        report.recommendations
    );
}

#[test]
fn a_real_gc_style_sawtooth_is_not_called_growth() {
    // ~150 MiB allocated in 3 s, all freed every 4 s.
    never_flagged(&[
        "--mib-per-sec",
        "50",
        "--max-mib",
        "150",
        "--free-every",
        "4s",
    ]);
}

#[test]
fn a_real_one_time_step_is_not_called_growth() {
    // 200 MiB in the first second, then held.
    never_flagged(&["--mib-per-sec", "200", "--max-mib", "200"]);
}
