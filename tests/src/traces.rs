//! The cache benchmark trace suite: key sequences generated from a fixed seed, so every run
//! on every machine replays exactly the same requests.
//!
//! Four kinds of trace, each of [`REQUESTS`] requests, replayed at each of [`CAPACITIES`]:
//!
//! | name | what |
//! |---|---|
//! | `zipf-0.99` | Zipf, exponent 0.99, over [`KEYS`] keys |
//! | `zipf-0.8` | Zipf, exponent 0.8, over [`KEYS`] keys |
//! | `zipf-0.99+scans` | `zipf-0.99`, with a one-off sequential scan of [`SCAN_LEN`] never-seen keys after every [`SCAN_EVERY`] Zipf requests |
//! | `loop-1.1x` | keys `0..1.1 × capacity` requested in order, over and over |
//!
//! **How keys are drawn.** A Zipf key is a *rank*: key `k` (0-based, `0 ≤ k < KEYS`) is
//! requested with probability proportional to `1 / (k + 1)^s`, so key 0 is the most
//! popular. Sampling inverts the exact cumulative distribution (a table of `KEYS` partial
//! sums, binary search) with uniform variates from SplitMix64 seeded by [`SEED`]; no
//! approximation, no dependency whose algorithm could change under us. Scan keys start at
//! [`SCAN_BASE`] and never repeat, so no cache can profit from keeping them.
//!
//! The suite is the one described in issue 3 (`BENCHMARKS.md`, section "Cache").

/// The seed of every trace in the suite.
pub const SEED: u64 = 0x5_EEDC_AC4E_2026;
/// Distinct keys of the Zipf traces.
pub const KEYS: u64 = 100_000;
/// Requests in each trace.
pub const REQUESTS: usize = 1_000_000;
/// Cache capacities (total entries) each trace is replayed at.
pub const CAPACITIES: [usize; 2] = [1_000, 10_000];
/// Length of one scan of never-seen keys in `zipf-0.99+scans`.
pub const SCAN_LEN: usize = 5_000;
/// Zipf requests between two scans in `zipf-0.99+scans` (so scans are 10 % of requests).
pub const SCAN_EVERY: usize = 45_000;
/// The first scan key: far above every Zipf key.
pub const SCAN_BASE: u64 = 1 << 40;

/// A named sequence of requested keys.
#[derive(Clone, Debug)]
pub struct Trace {
    /// Short name, as in the tables of `BENCHMARKS.md`.
    pub name: &'static str,
    /// The requested keys, in order.
    pub keys: Vec<u64>,
}

/// The whole suite for a cache of `capacity` entries: the three Zipf traces (the same at
/// every capacity) and the loop 10 % larger than `capacity`.
pub fn suite(capacity: usize) -> Vec<Trace> {
    suite_prefix(capacity, REQUESTS)
}

/// The first `requests` requests of each trace of [`suite`] (each generator is
/// sequential, so these are exact prefixes).
pub fn suite_prefix(capacity: usize, requests: usize) -> Vec<Trace> {
    vec![
        Trace {
            name: "zipf-0.99",
            keys: zipf(0.99, KEYS, requests, SEED),
        },
        Trace {
            name: "zipf-0.8",
            keys: zipf(0.8, KEYS, requests, SEED ^ 0x08),
        },
        Trace {
            name: "zipf-0.99+scans",
            keys: zipf_with_scans(0.99, KEYS, requests, SEED ^ 0x5CA2),
        },
        Trace {
            name: "loop-1.1x",
            keys: looping(capacity + capacity / 10, requests),
        },
    ]
}

/// `requests` keys drawn from a Zipf distribution with exponent `s` over `n` ranks
/// (see the module doc for how keys are drawn).
///
/// # Panics
/// If `n` is zero.
pub fn zipf(s: f64, n: u64, requests: usize, seed: u64) -> Vec<u64> {
    let dist = Zipf::new(s, n);
    let mut rng = SplitMix64::new(seed);
    (0..requests).map(|_| dist.sample(&mut rng)).collect()
}

/// A Zipf trace (as [`zipf`]) in which every [`SCAN_EVERY`] Zipf requests are followed by
/// [`SCAN_LEN`] sequential, never-repeated keys from [`SCAN_BASE`] on; `requests` in all.
///
/// # Panics
/// If `n` is zero.
pub fn zipf_with_scans(s: f64, n: u64, requests: usize, seed: u64) -> Vec<u64> {
    let dist = Zipf::new(s, n);
    let mut rng = SplitMix64::new(seed);
    let mut next_scan_key = SCAN_BASE;
    let mut keys = Vec::with_capacity(requests);
    while keys.len() < requests {
        for _ in 0..SCAN_EVERY.min(requests - keys.len()) {
            keys.push(dist.sample(&mut rng));
        }
        for _ in 0..SCAN_LEN.min(requests - keys.len()) {
            keys.push(next_scan_key);
            next_scan_key += 1;
        }
    }
    keys
}

/// `requests` keys cycling through `0..len` in order.
pub fn looping(len: usize, requests: usize) -> Vec<u64> {
    (0..len as u64).cycle().take(requests).collect()
}

/// Hits over requests, in percent.
pub fn percent(hits: u64, requests: usize) -> f64 {
    if requests == 0 {
        return 0.0;
    }
    hits as f64 * 100.0 / requests as f64
}

/// The real traces of `../shared/traces/` (see its README), in the order of the tables.
pub const REAL_TRACES: [&str; 9] = [
    "multi1",
    "multi3",
    "zigzag",
    "scan",
    "cpp",
    "backf",
    "gcc",
    "web12",
    "orm-night",
];
/// Cache sizes a real trace is replayed at, in percent of its distinct keys.
pub const REAL_PERCENTS: [usize; 3] = [5, 10, 25];

/// The folder of the real traces: `$PERFOPT_TRACES`, else `shared/traces` next to the
/// workspace (`../shared/traces` from the checkout).
pub fn real_traces_dir() -> std::path::PathBuf {
    match std::env::var_os("PERFOPT_TRACES") {
        Some(dir) => dir.into(),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces"),
    }
}

/// Reads the real trace `name` (`NAME.txt.gz` in [`real_traces_dir`]): one u64 key a
/// line, gzip-compressed, decompressed by the `gzip` program.
///
/// # Errors
/// A one-line message naming the file and what to do if it is missing, `gzip` fails, or
/// a line is not a u64.
pub fn read_real_trace(name: &str) -> Result<Trace, String> {
    let keys = read_gz_keys(&real_traces_dir().join(format!("{name}.txt.gz")))?;
    let name = REAL_TRACES
        .iter()
        .find(|&&n| n == name)
        .copied()
        .unwrap_or("real");
    Ok(Trace { name, keys })
}

/// Reads a gzip-compressed trace file, one u64 key a line (as [`read_real_trace`]).
///
/// # Errors
/// As [`read_real_trace`].
pub fn read_gz_keys(path: &std::path::Path) -> Result<Vec<u64>, String> {
    let out = std::process::Command::new("gzip")
        .arg("-dc")
        .arg(path)
        .output()
        .map_err(|e| format!("{}: cannot run gzip ({e}); install gzip", path.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{}: gzip failed ({}); set PERFOPT_TRACES to the folder of the traces",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    parse_keys(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses one u64 a line (blank lines skipped).
///
/// # Errors
/// `line N: "…" is not a u64 key`.
pub fn parse_keys(text: &str) -> Result<Vec<u64>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            l.trim()
                .parse()
                .map_err(|_| format!("line {}: {l:?} is not a u64 key", i + 1))
        })
        .collect()
}

/// Distinct keys of `keys`.
pub fn distinct(keys: &[u64]) -> usize {
    keys.iter().collect::<std::collections::HashSet<_>>().len()
}

/// The cache size for `percent` % of `distinct` keys (at least 1).
pub fn size_for(distinct: usize, percent: usize) -> usize {
    (distinct * percent / 100).max(1)
}

/// A Zipf distribution over ranks `0..n`, sampled by inverting its exact CDF.
#[derive(Clone, Debug)]
pub struct Zipf {
    /// `cdf[k]` = sum of weights of ranks `0..=k`; the last element is the total.
    cdf: Vec<f64>,
}

impl Zipf {
    /// Weights `1 / (k + 1)^s` for `k` in `0..n`.
    ///
    /// # Panics
    /// If `n` is zero.
    pub fn new(s: f64, n: u64) -> Zipf {
        assert!(n > 0, "a Zipf distribution needs at least one key");
        let mut total = 0.0;
        let cdf = (1..=n)
            .map(|rank| {
                total += (rank as f64).powf(-s);
                total
            })
            .collect();
        Zipf { cdf }
    }

    /// One rank, 0-based (0 is the most popular).
    pub fn sample(&self, rng: &mut SplitMix64) -> u64 {
        let total = self.cdf[self.cdf.len() - 1];
        let target = rng.next_f64() * total;
        let k = self.cdf.partition_point(|&c| c <= target);
        // `target < total`, so some element exceeds it; `min` only guards rounding.
        k.min(self.cdf.len() - 1) as u64
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and fixed forever, which is what a
/// reproducible trace needs.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose sequence depends only on `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_are_reproducible_and_shaped_as_documented() {
        let a = zipf(0.99, 1_000, 10_000, 7);
        assert_eq!(a, zipf(0.99, 1_000, 10_000, 7));
        assert!(a.iter().all(|&k| k < 1_000));
        // Rank 0 is the most popular: about 1/H(1000, 0.99) ≈ 13 % of requests.
        let zeros = a.iter().filter(|&&k| k == 0).count();
        assert!((1_000..1_700).contains(&zeros), "{zeros}");

        let s = zipf_with_scans(0.99, 1_000, SCAN_EVERY + SCAN_LEN + 10, 7);
        assert_eq!(s.len(), SCAN_EVERY + SCAN_LEN + 10);
        assert!(s[..SCAN_EVERY].iter().all(|&k| k < 1_000));
        assert_eq!(s[SCAN_EVERY], SCAN_BASE);
        assert_eq!(
            s[SCAN_EVERY + SCAN_LEN - 1],
            SCAN_BASE + SCAN_LEN as u64 - 1
        );
        assert!(s[SCAN_EVERY + SCAN_LEN..].iter().all(|&k| k < 1_000));

        assert_eq!(looping(3, 7), [0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(parse_keys("1\n\n 22 \n"), Ok(vec![1, 22]));
        assert_eq!(
            parse_keys("1\nx\n"),
            Err("line 2: \"x\" is not a u64 key".to_string())
        );
        assert_eq!(
            (distinct(&[3, 1, 3]), size_for(2_001, 5), size_for(3, 5)),
            (2, 100, 1)
        );
        assert_eq!(percent(1, 4), 25.0);
    }
}
