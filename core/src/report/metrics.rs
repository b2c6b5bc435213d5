//! The metric names perfopt records, their units, and how values are shown.

use alloc::format;
use alloc::string::String;

use serde::{Deserialize, Serialize};

/// System CPU usage, % of all cores.
pub const SYS_CPU: &str = "sys_cpu_pct";
/// System memory in use, % of total.
pub const SYS_MEM: &str = "sys_mem_pct";
/// System memory available to new processes, bytes.
pub const SYS_MEM_AVAILABLE: &str = "sys_mem_available_bytes";
/// Slope of the target's RSS floor while a leak is suspected, MB/h (0 when not).
pub const MEM_LEAK: &str = "mem_leak_mb_per_h";
/// One-minute load average.
pub const SYS_LOAD1: &str = "sys_load1";
/// Network receive rate over all interfaces, bytes/s.
pub const NET_RX: &str = "net_rx_bps";
/// Network transmit rate over all interfaces, bytes/s.
pub const NET_TX: &str = "net_tx_bps";
/// Disk read rate of all processes, bytes/s.
pub const DISK_READ: &str = "disk_read_bps";
/// Disk write rate of all processes, bytes/s.
pub const DISK_WRITE: &str = "disk_write_bps";
/// Target process CPU usage, % of one core (can exceed 100 with several threads).
pub const PROC_CPU: &str = "proc_cpu_pct";
/// Target process resident set size, bytes.
pub const PROC_RSS: &str = "proc_rss_bytes";
/// Target process virtual memory size, bytes.
pub const PROC_VIRT: &str = "proc_virt_bytes";
/// Target process thread count.
pub const PROC_THREADS: &str = "proc_threads";
/// Requests completed per second (reported by an embedding service).
pub const THROUGHPUT: &str = "throughput_rps";
/// Mean request latency in the interval, ms.
pub const LATENCY_MEAN: &str = "latency_mean_ms";
/// p99 request latency in the interval, ms.
pub const LATENCY_P99: &str = "latency_p99_ms";
/// Failed requests, % of requests in the interval.
pub const ERROR_RATE: &str = "error_rate_pct";
/// Cache hits, % of lookups in the interval.
pub const CACHE_HIT_RATE: &str = "cache_hit_rate_pct";
/// Cache L1 (hot tier) hits, % of the lookups L1 saw in the interval.
pub const CACHE_L1_HIT_RATE: &str = "cache_l1_hit_rate_pct";
/// Cache L2 hits, % of the lookups that reached L2 in the interval.
pub const CACHE_L2_HIT_RATE: &str = "cache_l2_hit_rate_pct";
/// Cache evictions per second in the interval.
pub const CACHE_EVICTIONS: &str = "cache_evictions_per_s";
/// Cache entries at the end of the interval.
pub const CACHE_ENTRIES: &str = "cache_entries";
/// Pool connections in use.
pub const POOL_IN_USE: &str = "pool_in_use";
/// Pool connections idle.
pub const POOL_IDLE: &str = "pool_idle";
/// Callers waiting for a pool connection.
pub const POOL_WAITING: &str = "pool_waiting";
/// p99 of the pool's wait for a connection over its stats window, ms.
pub const POOL_WAIT_P99: &str = "pool_wait_p99_ms";
/// Limiter permits held.
pub const LIMITER_IN_FLIGHT: &str = "limiter_in_flight";
/// Callers queued for a limiter permit.
pub const LIMITER_QUEUED: &str = "limiter_queued";
/// The limiter's concurrency limit.
pub const LIMITER_LIMIT: &str = "limiter_limit";
/// Limiter rejections (load shed) per second in the interval.
pub const LIMITER_REJECTED: &str = "limiter_rejected_per_s";
/// The summary (not a series) of every request latency, ms.
pub const LATENCY: &str = "latency_ms";

/// The unit of a metric. It fixes the histogram resolution and how a value is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Unit {
    /// Percent (0–100, or more for multi-core process CPU).
    Percent,
    /// Bytes.
    Bytes,
    /// Bytes per second.
    BytesPerSec,
    /// Milliseconds.
    Millis,
    /// Events per second.
    PerSec,
    /// A plain count or ratio.
    Count,
}

impl Unit {
    /// How many histogram units make one unit of the metric: values are recorded as
    /// `round(value * scale)`. Milliseconds are kept in microseconds, percentages in
    /// hundredths.
    pub const fn scale(self) -> f64 {
        match self {
            Unit::Percent | Unit::PerSec | Unit::Count => 100.0,
            Unit::Millis => 1000.0,
            Unit::Bytes | Unit::BytesPerSec => 1.0,
        }
    }

    /// The unit's short label.
    pub const fn label(self) -> &'static str {
        match self {
            Unit::Percent => "%",
            Unit::Bytes => "B",
            Unit::BytesPerSec => "B/s",
            Unit::Millis => "ms",
            Unit::PerSec => "/s",
            Unit::Count => "",
        }
    }
}

/// A metric's name, unit and one-line help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricDef {
    /// Name, used as the key in `series` and `summaries`.
    pub name: &'static str,
    /// Unit.
    pub unit: Unit,
    /// One-line description (also the Prometheus `# HELP`).
    pub help: &'static str,
}

/// Every metric perfopt knows, in display order.
pub const ALL: &[MetricDef] = &[
    MetricDef {
        name: SYS_CPU,
        unit: Unit::Percent,
        help: "System CPU usage, percent of all cores",
    },
    MetricDef {
        name: SYS_MEM,
        unit: Unit::Percent,
        help: "System memory in use, percent of total",
    },
    MetricDef {
        name: SYS_MEM_AVAILABLE,
        unit: Unit::Bytes,
        help: "System memory available to new processes, bytes",
    },
    MetricDef {
        name: MEM_LEAK,
        unit: Unit::Count,
        help: "Growth of the target's RSS floor while a leak is suspected, MB per hour",
    },
    MetricDef {
        name: SYS_LOAD1,
        unit: Unit::Count,
        help: "One-minute load average",
    },
    MetricDef {
        name: NET_RX,
        unit: Unit::BytesPerSec,
        help: "Network receive rate, bytes per second",
    },
    MetricDef {
        name: NET_TX,
        unit: Unit::BytesPerSec,
        help: "Network transmit rate, bytes per second",
    },
    MetricDef {
        name: DISK_READ,
        unit: Unit::BytesPerSec,
        help: "Disk read rate, bytes per second",
    },
    MetricDef {
        name: DISK_WRITE,
        unit: Unit::BytesPerSec,
        help: "Disk write rate, bytes per second",
    },
    MetricDef {
        name: PROC_CPU,
        unit: Unit::Percent,
        help: "Target process CPU usage, percent of one core",
    },
    MetricDef {
        name: PROC_RSS,
        unit: Unit::Bytes,
        help: "Target process resident set size, bytes",
    },
    MetricDef {
        name: PROC_VIRT,
        unit: Unit::Bytes,
        help: "Target process virtual memory, bytes",
    },
    MetricDef {
        name: PROC_THREADS,
        unit: Unit::Count,
        help: "Target process threads",
    },
    MetricDef {
        name: THROUGHPUT,
        unit: Unit::PerSec,
        help: "Requests completed per second",
    },
    MetricDef {
        name: LATENCY_MEAN,
        unit: Unit::Millis,
        help: "Mean request latency in the interval, ms",
    },
    MetricDef {
        name: LATENCY_P99,
        unit: Unit::Millis,
        help: "p99 request latency in the interval, ms",
    },
    MetricDef {
        name: ERROR_RATE,
        unit: Unit::Percent,
        help: "Failed requests, percent",
    },
    MetricDef {
        name: CACHE_HIT_RATE,
        unit: Unit::Percent,
        help: "Cache hits, percent of lookups",
    },
    MetricDef {
        name: CACHE_L1_HIT_RATE,
        unit: Unit::Percent,
        help: "Cache L1 hits, percent of L1 lookups in the interval",
    },
    MetricDef {
        name: CACHE_L2_HIT_RATE,
        unit: Unit::Percent,
        help: "Cache L2 hits, percent of lookups reaching L2 in the interval",
    },
    MetricDef {
        name: CACHE_EVICTIONS,
        unit: Unit::PerSec,
        help: "Cache evictions per second",
    },
    MetricDef {
        name: CACHE_ENTRIES,
        unit: Unit::Count,
        help: "Cache entries",
    },
    MetricDef {
        name: POOL_IN_USE,
        unit: Unit::Count,
        help: "Pool connections in use",
    },
    MetricDef {
        name: POOL_IDLE,
        unit: Unit::Count,
        help: "Pool connections idle",
    },
    MetricDef {
        name: POOL_WAITING,
        unit: Unit::Count,
        help: "Callers waiting for a pool connection",
    },
    MetricDef {
        name: POOL_WAIT_P99,
        unit: Unit::Millis,
        help: "Pool wait for a connection, p99 over the stats window, ms",
    },
    MetricDef {
        name: LIMITER_IN_FLIGHT,
        unit: Unit::Count,
        help: "Limiter permits in flight",
    },
    MetricDef {
        name: LIMITER_QUEUED,
        unit: Unit::Count,
        help: "Callers queued at the limiter",
    },
    MetricDef {
        name: LIMITER_LIMIT,
        unit: Unit::Count,
        help: "Limiter concurrency limit",
    },
    MetricDef {
        name: LIMITER_REJECTED,
        unit: Unit::PerSec,
        help: "Limiter rejections (load shed) per second",
    },
    MetricDef {
        name: LATENCY,
        unit: Unit::Millis,
        help: "Request latency, ms",
    },
];

/// The definition of `name`, if perfopt knows it.
pub fn lookup(name: &str) -> Option<&'static MetricDef> {
    ALL.iter().find(|d| d.name == name)
}

/// Shows `value` in `unit` the way every perfopt front end does (terminal, viewer, tests):
/// percentages with 2 decimals; durations in ms with 2 decimals, below 1 ms in µs and from
/// 10 s on in seconds; byte sizes in binary units with 1 decimal; rates with 2 decimals;
/// counts with 2 decimals, or none (with thousands separated) for whole numbers from 10,000.
/// Non-finite values show as `-`.
///
/// # Example
/// ```
/// use perfopt_core::report::metrics::{format_value, Unit};
/// assert_eq!(format_value(12.345, Unit::Percent), "12.35 %");
/// assert_eq!(format_value(3.5 * 1024.0 * 1024.0, Unit::Bytes), "3.5 MiB");
/// assert_eq!(format_value(f64::NAN, Unit::Millis), "-");
/// assert_eq!(format_value(0.15, Unit::Millis), "150 µs");
/// assert_eq!(format_value(12_500.0, Unit::Millis), "12.50 s");
/// ```
pub fn format_value(value: f64, unit: Unit) -> String {
    if !value.is_finite() {
        return String::from("-");
    }
    match unit {
        Unit::Bytes | Unit::BytesPerSec => {
            const STEPS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
            let mut v = value;
            let mut i = 0;
            while v.abs() >= 1024.0 && i + 1 < STEPS.len() {
                v /= 1024.0;
                i += 1;
            }
            let suffix = if unit == Unit::BytesPerSec { "/s" } else { "" };
            if i == 0 {
                format!("{v:.0} {}{suffix}", STEPS[i])
            } else {
                format!("{v:.1} {}{suffix}", STEPS[i])
            }
        }
        Unit::Millis => {
            let a = value.abs();
            if a > 0.0 && a < 1.0 {
                let us = value * 1000.0;
                match us.abs() {
                    x if x < 9.995 => format!("{us:.2} µs"),
                    x if x < 99.95 => format!("{us:.1} µs"),
                    _ => format!("{us:.0} µs"),
                }
            } else if a >= 10_000.0 {
                format!("{:.2} s", value / 1000.0)
            } else {
                format!("{value:.2} ms")
            }
        }
        Unit::Count if value.abs() >= 10_000.0 && value % 1.0 == 0.0 && value.abs() < 1e18 => {
            group_thousands(value as i64)
        }
        Unit::Count => format!("{value:.2}"),
        _ => format!("{value:.2} {}", unit.label()),
    }
}

/// `1234567` as `1,234,567`.
fn group_thousands(v: i64) -> String {
    let digits = format!("{}", v.unsigned_abs());
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if v < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_snake_case() {
        for (i, d) in ALL.iter().enumerate() {
            assert!(
                d.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            );
            assert!(
                ALL[..i].iter().all(|o| o.name != d.name),
                "{} twice",
                d.name
            );
        }
        assert_eq!(lookup(SYS_CPU).unwrap().unit, Unit::Percent);
        assert!(lookup("nope").is_none());
    }

    #[test]
    fn formatting() {
        assert_eq!(format_value(512.0, Unit::Bytes), "512 B");
        assert_eq!(format_value(2048.0, Unit::BytesPerSec), "2.0 KiB/s");
        assert_eq!(format_value(1.005, Unit::Millis), "1.00 ms");
        assert_eq!(format_value(3.0, Unit::Count), "3.00");
        assert_eq!(format_value(f64::INFINITY, Unit::Percent), "-");
        assert_eq!(format_value(0.0, Unit::Millis), "0.00 ms");
        assert_eq!(format_value(0.001234, Unit::Millis), "1.23 µs");
        assert_eq!(format_value(0.0456, Unit::Millis), "45.6 µs");
        assert_eq!(format_value(0.9999, Unit::Millis), "1000 µs");
        assert_eq!(format_value(-0.5, Unit::Millis), "-500 µs");
        assert_eq!(format_value(9_999.0, Unit::Millis), "9999.00 ms");
        assert_eq!(format_value(90_000.0, Unit::Millis), "90.00 s");
        assert_eq!(
            format_value(24_904_069_120.0, Unit::Count),
            "24,904,069,120"
        );
        assert_eq!(format_value(-12_345.0, Unit::Count), "-12,345");
        assert_eq!(format_value(9_999.0, Unit::Count), "9999.00");
    }
}
