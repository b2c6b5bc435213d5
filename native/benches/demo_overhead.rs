//! What perfopt's instrumentation costs the demo's chat server: messages per second and p99
//! delivery latency with instrumentation on (profiler scopes on every handler, every
//! request's latency into the monitor, per-interval component sampling) and off (a disabled
//! profiler, no request recording), in the same run, alternating, on the same machine.
//!
//! Closed loop: each client sends its next message as soon as the previous one came back,
//! so the throughput is the server's capacity on this machine. The monitor's 1 Hz system
//! sampling runs in both modes.
//!
//! `cargo bench -p perfopt --bench demo_overhead` (env `PERFOPT_OVERHEAD_ROUNDS`,
//! `PERFOPT_OVERHEAD_SECS` to change the 5 rounds of 4 s per mode).

use std::time::Duration;

use perfopt::demo::{Demo, DemoConfig};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing we need.
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let rounds = env("PERFOPT_OVERHEAD_ROUNDS", 5);
    let secs = env("PERFOPT_OVERHEAD_SECS", 4);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut on = Vec::new();
    let mut off = Vec::new();
    for round in 0..rounds {
        // Alternate the order so drift on a shared machine hits both modes alike.
        let order = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for instrumented in order {
            let config = DemoConfig {
                clients: 50,
                duration: Duration::from_secs(secs),
                instrumented,
                closed_loop: true,
                ..DemoConfig::default()
            };
            let outcome = runtime.block_on(async {
                Demo::start(config)
                    .expect("demo settings")
                    .run()
                    .await
                    .expect("demo run")
            });
            eprintln!(
                "round {round} instrumentation {:>3}: {:>8.0} msg/s  p99 {:>7.3} ms",
                if instrumented { "on" } else { "off" },
                outcome.messages_per_s,
                outcome.p99_ms
            );
            let sample = (outcome.messages_per_s, outcome.p99_ms);
            if instrumented {
                on.push(sample)
            } else {
                off.push(sample)
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mut on_t, mut on_p): (Vec<f64>, Vec<f64>) = on.iter().copied().unzip();
    let (mut off_t, mut off_p): (Vec<f64>, Vec<f64>) = off.iter().copied().unzip();
    let (ont, offt) = (median(&mut on_t), median(&mut off_t));
    let (onp, offp) = (median(&mut on_p), median(&mut off_p));
    println!("| mode | msg/s (median of {rounds}) | p99 delivery ms (median) |");
    println!("|---|---:|---:|");
    println!("| instrumentation off | {offt:.0} | {offp:.3} |");
    println!("| instrumentation on | {ont:.0} | {onp:.3} |");
    println!(
        "| on / off | {:.3} ({:+.1} % throughput) | {:.3} |",
        ont / offt,
        (ont / offt - 1.0) * 100.0,
        onp / offp
    );
}
