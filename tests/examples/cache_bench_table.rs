//! Prints the throughput tables of `BENCHMARKS.md` (section "Cache") from the results the
//! `cache` criterion bench left in `target/criterion/`: the median throughput of each cache
//! and its ratio to the reference (quick_cache unsync on one thread, quick_cache sync on
//! two).
//!
//! ```text
//! cargo bench -p perfopt-tests --bench cache -- --warm-up-time 1 --measurement-time 3 --sample-size 10
//! cargo run --release -p perfopt-tests --example cache_bench_table
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Requests per iteration of the bench (`REQUESTS` in `benches/cache.rs`).
const REQUESTS: f64 = 200_000.0;

fn main() {
    let root = criterion_dir();
    for (group, reference) in [
        ("get_or_insert_1thread", "quick_cache_unsync"),
        ("get_or_insert_2threads", "quick_cache_sync"),
    ] {
        // capacity -> cache -> million requests per second
        let mut table: BTreeMap<u64, Vec<(String, f64)>> = BTreeMap::new();
        let Ok(caches) = std::fs::read_dir(root.join(group)) else {
            eprintln!("no results for {group} under {}", root.display());
            continue;
        };
        for cache in caches.flatten().filter(|e| e.path().is_dir()) {
            let name = cache.file_name().to_string_lossy().into_owned();
            if name == "report" {
                continue;
            }
            for cap in std::fs::read_dir(cache.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let Ok(capacity) = cap.file_name().to_string_lossy().parse::<u64>() else {
                    continue;
                };
                if let Some(mreq) = median_mreq_per_s(&cap.path().join("new/estimates.json")) {
                    table
                        .entry(capacity)
                        .or_default()
                        .push((name.clone(), mreq));
                }
            }
        }
        println!("\n{group}\n");
        println!("| capacity | cache | M requests/s (median) | × {reference} |");
        println!("|---:|---|---:|---:|");
        for (capacity, mut rows) in table {
            rows.sort_by(|a, b| b.1.total_cmp(&a.1));
            let base = rows
                .iter()
                .find(|(n, _)| n == reference)
                .map_or(f64::NAN, |r| r.1);
            for (name, mreq) in rows {
                println!("| {capacity} | {name} | {mreq:.2} | {:.2} |", mreq / base);
            }
        }
    }
}

/// `target/criterion` of this workspace (or `$CARGO_TARGET_DIR/criterion`).
fn criterion_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("criterion")
}

/// Median throughput in million requests per second, from criterion's `estimates.json`
/// (nanoseconds per iteration of `REQUESTS` requests).
fn median_mreq_per_s(path: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let ns = json["median"]["point_estimate"].as_f64()?;
    Some(REQUESTS / ns * 1e3)
}
