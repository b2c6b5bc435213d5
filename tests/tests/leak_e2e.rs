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
