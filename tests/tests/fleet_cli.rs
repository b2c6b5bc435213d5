//! `perfopt report merge` and `perfopt report check` as a user runs them: real files, the
//! real binary, exit codes and the lines printed.

use std::path::Path;
use std::process::{Command, Output};

use perfopt_core::report::metrics;
use perfopt_core::report::{Meta, Recorder, Report};
use perfopt_core::rules::default_rules;
use perfopt_core::stats::Histogram;
use perfopt_core::{Duration, Instant};
use perfopt_tests::{TempDir, perfopt_bin};

/// A 30-sample report of `host`: the given request latencies (ms), system memory at `mem`.
fn report(host: &str, interval_ms: u64, latencies_ms: &[u64], mem: f64) -> Report {
    let meta = Meta {
        tool_version: "0.1.0".into(),
        host: host.into(),
        target: None,
        started_at: 1_700_000_000_000,
        ended_at: 0,
        interval_ms,
    };
    let mut rec = Recorder::new(Instant::ZERO, meta, default_rules()).unwrap();
    for s in 1..=30u64 {
        let t = Instant::from_millis(s * interval_ms);
        rec.handle_sample(t, [(metrics::SYS_MEM, mem), (metrics::THROUGHPUT, 50.0)]);
    }
    for &ms in latencies_ms {
        rec.record_latency(Duration::from_millis(ms));
    }
    rec.report(Instant::from_millis(30 * interval_ms))
}

fn write(dir: &Path, name: &str, r: &Report) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, r.to_json()).unwrap();
    p
}

fn perfopt(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut cmd = Command::new(perfopt_bin());
    for a in args {
        cmd.arg(a);
    }
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn merge_combines_hosts_exactly_and_names_the_file_it_refuses() {
    let dir = TempDir::new("merge");
    let a_lat: Vec<u64> = (1..=200).collect();
    let b_lat: Vec<u64> = (1..=50).map(|x| x * 40).collect();
    let a = write(dir.path(), "a.json", &report("web-1", 1000, &a_lat, 40.0));
    let b = write(dir.path(), "b.json", &report("web-2", 1000, &b_lat, 60.0));
    let c = write(dir.path(), "c.json", &report("web-3", 1000, &[7], 50.0));
    let out = dir.path().join("fleet.json");
    let o = perfopt(&[&"report", &"merge", &a, &b, &c, &"-o", &out]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("merged 3 reports"),
        "{}",
        text(&o.stdout)
    );
    let fleet = Report::from_json(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(fleet.meta.host, "web-1, web-2, web-3");
    let exact: Histogram = a_lat
        .iter()
        .chain(&b_lat)
        .chain(&[7])
        .map(|ms| ms * 1000)
        .collect();
    let lat = &fleet.summaries[metrics::LATENCY];
    assert_eq!(lat.histogram, exact, "histograms merge exactly");
    assert_eq!(lat.summary.count, 251);
    assert_eq!(lat.summary.max, 2000.0);
    // The fleet p99 is the p99 of all requests, not an average of the hosts' p99s.
    let q = exact.quantile(0.99).unwrap() as f64 / 1000.0;
    assert_eq!(lat.summary.p99, q);
    // Throughput adds up, memory percentages average.
    let rps = fleet.series.column(metrics::THROUGHPUT).unwrap();
    assert!(rps.iter().all(|v| *v == Some(150.0)), "{rps:?}");
    let mem = fleet.series.column(metrics::SYS_MEM).unwrap();
    assert!(mem.iter().all(|v| *v == Some(50.0)), "{mem:?}");

    // Another interval: one line naming the file, exit code 2, nothing written.
    let slow = write(dir.path(), "slow.json", &report("web-4", 2000, &[1], 1.0));
    let out2 = dir.path().join("fleet2.json");
    let o = perfopt(&[&"report", &"merge", &a, &slow, &"-o", &out2]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("slow.json: sampled every 2000 ms but"),
        "{err}"
    );
    assert!(err.contains("same --interval"), "{err}");
    assert!(!out2.exists());

    // Another schema version.
    let v2 = dir.path().join("v2.json");
    let json = std::fs::read_to_string(&b)
        .unwrap()
        .replace("perfopt.report/v1", "perfopt.report/v2");
    std::fs::write(&v2, json).unwrap();
    let o = perfopt(&[&"report", &"merge", &a, &v2, &"-o", &out2]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("v2.json") && err.contains("perfopt.report/v2"),
        "{err}"
    );

    // A single file is not a merge.
    let o = perfopt(&[&"report", &"merge", &a, &"-o", &out2]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
}

#[test]
fn check_exit_codes_rules_and_regressions() {
    let dir = TempDir::new("check");
    let lat: Vec<u64> = (1..=100).collect();
    let slower: Vec<u64> = (1..=100).map(|x| x + x / 4).collect();
    let good = write(dir.path(), "good.json", &report("h", 1000, &lat, 40.0));
    let bad = write(dir.path(), "bad.json", &report("h", 1000, &lat, 95.0));
    let slow = write(dir.path(), "slow.json", &report("h", 1000, &slower, 40.0));

    let o = perfopt(&[&"report", &"check", &good]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("check passed"),
        "{}",
        text(&o.stdout)
    );

    // memory > 85 % is critical: fails with one FAIL line.
    let o = perfopt(&[&"report", &"check", &bad]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    let fails: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(fails.len(), 1, "{out}");
    assert!(
        fails[0].starts_with("FAIL rule memory (critical):"),
        "{out}"
    );
    assert!(fails[0].contains("> 85.00 %"), "{out}");
    assert!(text(&o.stderr).contains("check failed (1 problem(s))"));

    // With edited rules: memory made a warning no longer fails; a lower threshold on
    // another rule does, with --fail-on warning.
    let mut rules = default_rules();
    for r in &mut rules {
        if r.id == "memory" {
            r.severity = perfopt_core::rules::Severity::Warning;
        }
    }
    let rules_path = dir.path().join("rules.json");
    std::fs::write(&rules_path, serde_json::to_string(&rules).unwrap()).unwrap();
    let o = perfopt(&[&"report", &"check", &bad, &"--rules", &rules_path]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    let o = perfopt(&[
        &"report",
        &"check",
        &bad,
        &"--rules",
        &rules_path,
        &"--fail-on",
        &"warning",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stdout).contains("FAIL rule memory (warning)"));

    // A baseline: 25 % slower fails at 10 %, passes at 30 %; faster always passes.
    let o = perfopt(&[
        &"report",
        &"check",
        &slow,
        &"--baseline",
        &good,
        &"--max-regression",
        &"10%",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    let regs: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("FAIL regression"))
        .collect();
    assert!(
        regs.iter()
            .any(|l| l.starts_with("FAIL regression latency_ms p99: ")),
        "{out}"
    );
    assert!(
        regs.iter()
            .all(|l| l.contains("allowed 10 %") && l.contains("good.json")),
        "{out}"
    );
    let o = perfopt(&[
        &"report",
        &"check",
        &slow,
        &"--baseline",
        &good,
        &"--max-regression",
        &"30%",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    let o = perfopt(&[&"report", &"check", &good, &"--baseline", &slow]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));

    // Bad input: exit 2 with one line naming the file.
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "[{\"id\": 3}]").unwrap();
    let o = perfopt(&[&"report", &"check", &good, &"--rules", &junk]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("junk.json: not a rules file"), "{err}");
    let o = perfopt(&[
        &"report",
        &"check",
        &good,
        &"--baseline",
        &dir.path().join("nope.json"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("nope.json: no such file"));
    let o = perfopt(&[
        &"report",
        &"check",
        &good,
        &"--baseline",
        &slow,
        &"--max-regression",
        &"lots",
    ]);
    assert_eq!(o.status.code(), Some(2), "clap usage error");
}
