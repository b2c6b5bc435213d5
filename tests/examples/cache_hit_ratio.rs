//! Prints the hit-ratio table of `BENCHMARKS.md` (section "Cache"): the synthetic traces of
//! `perfopt_tests::traces` at 1,000 and 10,000 entries and every real trace of
//! `../shared/traces/` at 5, 10 and 25 % of its distinct keys, for LRU, quick_cache, moka,
//! perfopt core and native, libCacheSim's ARC, LIRS, S3-FIFO, SIEVE, W-TinyLFU and 2Q (run
//! by `tests/scripts/libcachesim_replay.py` on the same keys, in parallel), and Bélády's
//! optimum; then the mean gap to Bélády of every column and perfopt's worst rows.
//!
//! ```text
//! cargo run --release -p perfopt-tests --example cache_hit_ratio [-- OPTIONS]
//!   --only NAME        only the traces whose name contains NAME
//!   --no-libcachesim   skip the libCacheSim columns
//!   --ours             recompute only perfopt core; every other column from the last full
//!                      run (target/cache_hit_ratio.json): for judging a policy change
//! ```
//!
//! Each request is a get-or-insert: a `get`, and on a miss an `insert` of the key. Hit
//! ratios count every request (cold misses included). They are deterministic except
//! moka's (its sketch is seeded at random per cache) and perfopt native's (random
//! per-instance hashers choose the shards): those move by a few hundredths of a point.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Instant;

use perfopt_core::cache::{Cache, CacheConfig, ClimberTuning, UnitWeigher};
use perfopt_tests::belady;
use perfopt_tests::cache_replay::{replay, replay_indexed};
use perfopt_tests::traces::{self, CAPACITIES, REAL_PERCENTS, REAL_TRACES, percent};
use serde_json::{Value, json};

/// Columns computed here, in table order.
const RUST: [&str; 5] = [
    "LRU",
    "quick_cache",
    "moka",
    "perfopt core",
    "perfopt native",
];
/// Columns computed by libCacheSim, in table order (names as the script prints them).
const LCS: [&str; 6] = ["ARC", "LIRS", "S3-FIFO", "SIEVE", "W-TinyLFU", "2Q"];
/// The peers perfopt must not fall behind on any row (issue 10).
const RUST_PEERS: [&str; 3] = ["LRU", "quick_cache", "moka"];
const OURS: &str = "perfopt core";
const MIN: &str = "Bélády";

/// One trace and the sizes it is replayed at.
struct Job {
    name: &'static str,
    keys: Vec<u64>,
    capacities: Vec<usize>,
    real: bool,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    let ours_only = args.iter().any(|a| a == "--ours");
    let with_lcs = !ours_only && !args.iter().any(|a| a == "--no-libcachesim");
    let jobs: Vec<Job> = jobs()
        .into_iter()
        .filter(|j| only.as_deref().is_none_or(|o| j.name.contains(o)))
        .collect();
    let saved = results_path();
    let previous: Value = if ours_only {
        match std::fs::read_to_string(&saved) {
            Ok(text) => serde_json::from_str(&text).unwrap_or(Value::Null),
            Err(e) => {
                eprintln!(
                    "error: --ours needs {} from a full run ({e}); run without --ours first",
                    saved.display()
                );
                std::process::exit(2);
            }
        }
    } else {
        Value::Null
    };

    // libCacheSim runs in a python process while the Rust caches replay here.
    let lcs = with_lcs.then(|| {
        let files = write_plain_traces(&jobs);
        std::thread::spawn(move || run_libcachesim(&files))
    });

    let mut rows: Vec<Row> = Vec::new();
    for job in &jobs {
        for (i, &capacity) in job.capacities.iter().enumerate() {
            let t0 = Instant::now();
            let keys = &job.keys;
            let key = row_key(job.name, capacity);
            let mut cells = BTreeMap::new();
            if ours_only {
                if let Some(old) = previous[&key].as_object() {
                    for (k, v) in old {
                        cells.insert(k.clone(), v.as_u64().unwrap_or(0));
                    }
                }
                cells.insert(OURS.to_string(), ours_hits(keys, capacity));
            } else {
                cells.insert("LRU".into(), lru_hits(keys, capacity));
                cells.insert("quick_cache".into(), quick_unsync_hits(keys, capacity));
                cells.insert("moka".into(), moka_hits(keys, capacity));
                cells.insert(OURS.into(), ours_hits(keys, capacity));
                cells.insert("perfopt native".into(), native_hits(keys, capacity));
                cells.insert(MIN.into(), belady::hits(keys, capacity));
            }
            eprintln!("  ({} at {capacity}: {:.1?})", job.name, t0.elapsed());
            let real = job.real.then(|| REAL_PERCENTS[i]);
            rows.push((job.name.to_string(), capacity, real, keys.len(), cells));
        }
    }
    let lcs_columns = match lcs.map(|h| h.join().expect("libCacheSim thread")) {
        Some(Ok(by_row)) => {
            for (name, capacity, _, _, cells) in &mut rows {
                if let Some(found) = by_row.get(&row_key(name, *capacity)) {
                    cells.extend(found.iter().map(|(k, v)| (k.clone(), *v)));
                }
            }
            true
        }
        Some(Err(e)) => {
            eprintln!("libCacheSim columns skipped: {e}");
            false
        }
        None => ours_only,
    };

    let mut columns: Vec<&str> = RUST.to_vec();
    if lcs_columns {
        columns.extend(LCS);
    }
    columns.push(MIN);
    print_table(&rows, &columns);
    if !ours_only && only.is_none() {
        let all: serde_json::Map<String, Value> = rows
            .iter()
            .map(|(name, capacity, _, _, cells)| (row_key(name, *capacity), json!(cells)))
            .collect();
        if let Err(e) = std::fs::write(&saved, Value::Object(all).to_string()) {
            eprintln!("could not save {}: {e}", saved.display());
        }
    }
}

/// Every trace of the table: the synthetic suite, then the real traces (a trace that
/// cannot be read is reported and left out).
fn jobs() -> Vec<Job> {
    let mut jobs = Vec::new();
    for trace in traces::suite(CAPACITIES[0]) {
        let capacities = if trace.name.starts_with("loop") {
            vec![CAPACITIES[0]]
        } else {
            CAPACITIES.to_vec()
        };
        jobs.push(Job {
            name: trace.name,
            keys: trace.keys,
            capacities,
            real: false,
        });
    }
    for trace in traces::suite(CAPACITIES[1]) {
        if trace.name.starts_with("loop") {
            jobs.push(Job {
                name: trace.name,
                keys: trace.keys,
                capacities: vec![CAPACITIES[1]],
                real: false,
            });
        }
    }
    for name in REAL_TRACES {
        match traces::read_real_trace(name) {
            Ok(trace) => {
                let distinct = traces::distinct(&trace.keys);
                jobs.push(Job {
                    name: trace.name,
                    keys: trace.keys,
                    capacities: REAL_PERCENTS
                        .iter()
                        .map(|&p| traces::size_for(distinct, p))
                        .collect(),
                    real: true,
                });
            }
            Err(e) => eprintln!("error: {e}"),
        }
    }
    jobs
}

fn row_key(name: &str, capacity: usize) -> String {
    format!("{name}@{capacity}")
}

fn results_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("cache_hit_ratio.json")
}

/// Writes each job's keys as a plain-text file (what libCacheSim reads); the
/// `FILE:CAP,CAP` arguments of the script, with the row key of each file.
fn write_plain_traces(jobs: &[Job]) -> Vec<(String, &'static str, Vec<usize>)> {
    let dir = std::env::temp_dir().join(format!("perfopt-lcs-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("error: {}: {e}", dir.display());
        return Vec::new();
    }
    let mut files = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let path = dir.join(format!("{i}-{}.txt", job.name));
        let mut text = String::with_capacity(job.keys.len() * 8);
        for k in &job.keys {
            let _ = writeln!(text, "{k}");
        }
        match std::fs::write(&path, text) {
            Ok(()) => files.push((
                path.to_string_lossy().into_owned(),
                job.name,
                job.capacities.clone(),
            )),
            Err(e) => eprintln!("error: {}: {e}", path.display()),
        }
    }
    files
}

/// Runs the libCacheSim script on the files; hits per row key and policy.
fn run_libcachesim(
    files: &[(String, &'static str, Vec<usize>)],
) -> Result<BTreeMap<String, BTreeMap<String, u64>>, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/libcachesim_replay.py");
    let args = files.iter().map(|(path, _, caps)| {
        let caps: Vec<String> = caps.iter().map(ToString::to_string).collect();
        format!("{path}:{}", caps.join(","))
    });
    let out = std::process::Command::new("python3")
        .arg(&script)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run python3 ({e}); install python3 and libcachesim"))?;
    for (path, _, _) in files {
        let _ = std::fs::remove_file(path);
    }
    if let Some((first, _, _)) = files.first()
        && let Some(dir) = Path::new(first).parent()
    {
        let _ = std::fs::remove_dir(dir);
    }
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    let json: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("libcachesim_replay.py printed no JSON ({e})"))?;
    let mut by_row = BTreeMap::new();
    for (path, name, caps) in files {
        for cap in caps {
            let Some(cells) = json[path.as_str()][cap.to_string()].as_object() else {
                continue;
            };
            by_row.insert(
                row_key(name, *cap),
                cells
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                    .collect(),
            );
        }
    }
    Ok(by_row)
}

/// Trace, size, percent of the distinct keys (real traces), requests, hits per column.
type Row = (String, usize, Option<usize>, usize, BTreeMap<String, u64>);

fn print_table(rows: &[Row], columns: &[&str]) {
    println!("| trace | size | {} |", columns.join(" | "));
    println!("|---|---:|{}", "---:|".repeat(columns.len()));
    let pct =
        |cells: &BTreeMap<String, u64>, col: &str, n: usize| cells.get(col).map(|&h| percent(h, n));
    for (name, capacity, real, n, cells) in rows {
        let best_peer = RUST_PEERS
            .iter()
            .filter_map(|c| cells.get(*c))
            .max()
            .copied();
        let size = match real {
            Some(p) => format!("{capacity} ({p} %)"),
            None => capacity.to_string(),
        };
        let mut line = format!("| {name} | {size} |");
        for col in columns {
            match pct(cells, col, *n) {
                Some(p) if RUST_PEERS.contains(col) && cells.get(*col) == best_peer.as_ref() => {
                    let _ = write!(line, " **{p:.2}** |");
                }
                Some(p) => {
                    let _ = write!(line, " {p:.2} |");
                }
                None => line.push_str(" — |"),
            }
        }
        println!("{line}");
    }
    // Summary: mean gap to Bélády (all rows, real rows), then perfopt's worst rows.
    for (label, filter) in [
        ("mean gap to Bélády, all rows", None),
        ("mean gap to Bélády, real traces", Some(true)),
        ("mean gap to Bélády, synthetic", Some(false)),
    ] {
        let mut line = format!("| {label} | |");
        for col in columns {
            let gaps: Vec<f64> = rows
                .iter()
                .filter(|r| filter.is_none_or(|f| r.2.is_some() == f))
                .filter_map(|(_, _, _, n, cells)| Some(pct(cells, MIN, *n)? - pct(cells, col, *n)?))
                .collect();
            if gaps.is_empty() {
                line.push_str(" — |");
            } else {
                let _ = write!(
                    line,
                    " {:.2} |",
                    gaps.iter().sum::<f64>() / gaps.len() as f64
                );
            }
        }
        println!("{line}");
    }
    let worst = |peers: &[&str]| {
        rows.iter()
            .filter_map(|(name, capacity, _, n, cells)| {
                let best = peers
                    .iter()
                    .filter_map(|c| pct(cells, c, *n))
                    .reduce(f64::max)?;
                Some((pct(cells, OURS, *n)? - best, name, capacity))
            })
            .min_by(|a, b| a.0.total_cmp(&b.0))
    };
    let below = |peers: &[&str], margin: f64| {
        rows.iter()
            .filter(|(_, _, _, n, cells)| {
                let best = peers
                    .iter()
                    .filter_map(|c| pct(cells, c, *n))
                    .reduce(f64::max);
                matches!((best, pct(cells, OURS, *n)), (Some(b), Some(o)) if o < b - margin)
            })
            .count()
    };
    println!();
    if let Some((d, name, cap)) = worst(&RUST_PEERS) {
        println!(
            "perfopt core − best of LRU/quick_cache/moka: worst {d:+.2} points ({name} at {cap}); rows more than 2.0 below: {}, below at all: {}",
            below(&RUST_PEERS, 2.0),
            below(&RUST_PEERS, 0.0)
        );
    }
    if columns.contains(&LCS[0])
        && let Some((d, name, cap)) = worst(&LCS)
    {
        println!(
            "perfopt core − best libCacheSim policy: worst {d:+.2} points ({name} at {cap}); rows more than 1.0 below: {}",
            below(&LCS, 1.0)
        );
    }
}

fn lru_hits(trace: &[u64], capacity: usize) -> u64 {
    let mut cache = lru::LruCache::new(NonZeroUsize::new(capacity).expect("capacity > 0"));
    replay(trace, |k| {
        cache.get(&k).is_some() || {
            cache.put(k, k);
            false
        }
    })
}

fn quick_unsync_hits(trace: &[u64], capacity: usize) -> u64 {
    let mut cache = quick_cache::unsync::Cache::new(capacity);
    replay(trace, |k| {
        cache.get(&k).is_some() || {
            cache.insert(k, k);
            false
        }
    })
}

/// moka applies reads and writes to its policy in batches; running the pending tasks after
/// every request settles each eviction before the next request, so the ratio measures its
/// policy (TinyLFU admission + LRU), not the batching.
fn moka_hits(trace: &[u64], capacity: usize) -> u64 {
    let cache = moka::sync::Cache::new(capacity as u64);
    replay_indexed(trace, |_, k| {
        let hit = cache.get(&k).is_some();
        if !hit {
            cache.insert(k, k);
        }
        cache.run_pending_tasks();
        hit
    })
}

/// perfopt's cache: `perfopt_core::cache::Cache` with `capacity` entries in all,
/// `CacheConfig::new`, no TTL. The hasher is foldhash with a fixed seed (the default is
/// seeded per cache) so that the frequency sketch's collisions, and with them the ratio,
/// are the same on every run.
fn ours_hits(trace: &[u64], capacity: usize) -> u64 {
    let config = CacheConfig::new(capacity as u64);
    let hasher = foldhash::fast::FixedState::with_seed(traces::SEED);
    let mut cache = Cache::with_weigher_and_hasher(config, UnitWeigher, hasher)
        .expect("a capacity above zero is valid");
    if let Some(tuning) = climber_tuning() {
        cache.set_climber_tuning(tuning);
    }
    let now = perfopt_core::Instant::ZERO;
    replay(trace, |k| {
        cache.get(now, &k).is_some() || {
            cache.insert(now, k, k);
            false
        }
    })
}

/// `PERFOPT_CLIMBER=sample,min_sample,step‰,decay‰,restart_ppm,window‰,grow_first(0/1),sketch_sample[,ghost_gain,ghost_age‰[,admit_margin]]`:
/// other hill-climber settings for perfopt core (parameter sweeps with `--ours`).
fn climber_tuning() -> Option<ClimberTuning> {
    let text = std::env::var("PERFOPT_CLIMBER").ok()?;
    let v: Vec<u64> = text
        .split(',')
        .filter_map(|x| x.trim().parse().ok())
        .collect();
    let (base, ghost) = v.split_at(v.len().min(8));
    let [sample, min, step, decay, restart, window, grow, sketch] = base[..] else {
        eprintln!("error: PERFOPT_CLIMBER={text:?}: expected 8, 10 or 11 comma-separated integers");
        std::process::exit(2);
    };
    let d = ClimberTuning::default();
    let (ghost_gain, ghost_age_per_mille) = match ghost {
        [gain, age, ..] => (*gain, *age),
        _ => (d.ghost_gain, d.ghost_age_per_mille),
    };
    let extra = |i: usize, default: u64| ghost.get(i).copied().unwrap_or(default);
    let admit_margin = extra(2, u64::from(d.admit_margin)) as u8;
    Some(ClimberTuning {
        sample_per_capacity: sample,
        min_sample: min,
        step_per_mille: step,
        decay_per_mille: decay,
        restart_ppm: restart,
        initial_window_per_mille: window,
        grow_first: grow != 0,
        sketch_sample_factor: sketch as usize,
        ghost_gain,
        ghost_age_per_mille,
        admit_margin,
    })
}

/// perfopt's thread-safe cache (`perfopt::cache::Cache`, sharded as it chooses by default;
/// capacity as [`ours_hits`]), used from one thread. Its hashers are seeded per cache, so
/// this column moves slightly between runs.
fn native_hits(trace: &[u64], capacity: usize) -> u64 {
    let cache = perfopt::cache::Cache::new(CacheConfig::new(capacity as u64))
        .expect("a capacity above zero is valid");
    replay(trace, |k| {
        cache.get(&k).is_some() || {
            cache.insert(k, k);
            false
        }
    })
}
