//! `perfopt stress`: a small, bounded synthetic workload to try perfopt on — it spins the CPU
//! on some threads and allocates (and touches) memory at a steady rate.

use std::hint::black_box;
use std::time::Duration;

use crate::clock;

/// Settings of the workload.
#[derive(Clone, Copy, Debug)]
pub struct Stress {
    /// How long to run.
    pub duration: Duration,
    /// Spinning threads.
    pub threads: usize,
    /// Memory to allocate and keep, MiB per second.
    pub mib_per_sec: u64,
    /// Stop allocating past this many MiB.
    pub max_mib: u64,
    /// Free everything held this often (a GC-style sawtooth); `None` keeps it all.
    pub free_every: Option<Duration>,
}

/// Runs the workload to the end; returns the MiB held at the end.
pub fn run(s: Stress) -> u64 {
    let end = clock::now().saturating_add(s.duration);
    let spinners: Vec<_> = (0..s.threads)
        .map(|i| {
            std::thread::spawn(move || {
                let mut x = i as u64 + 1;
                while clock::now() < end {
                    for _ in 0..10_000 {
                        x = black_box(
                            x.wrapping_mul(6364136223846793005)
                                .wrapping_add(1442695040888963407),
                        );
                    }
                }
                x
            })
        })
        .collect();
    let mut held: Vec<Vec<u8>> = Vec::new();
    let limit = chunks_allowed(s.max_mib);
    let mut ticks: u64 = 0;
    let mut next_free = s.free_every.map(|d| clock::now().saturating_add(d));
    while clock::now() < end {
        if let (Some(at), Some(every)) = (next_free, s.free_every)
            && clock::now() >= at
        {
            // A sawtooth: drop everything and grow again from zero.
            held = Vec::new();
            ticks = 0;
            next_free = Some(at.saturating_add(every));
        }
        // Where the steady rate says we should be by now, never past the cap; computed from
        // the tick count (not added up per tick) so any rate is exact over time and no
        // product overflows.
        ticks += 1;
        let due = chunks_due(s.mib_per_sec, ticks).min(limit);
        while (held.len() as u64) < due {
            // Touch every page so the memory is resident, not just reserved.
            held.push(vec![1u8; CHUNK]);
        }
        std::thread::sleep(
            Duration::from_millis(100).min(end.saturating_duration_since(clock::now())),
        );
    }
    for t in spinners {
        let _ = black_box(t.join());
    }
    black_box(&held);
    held.len() as u64 / CHUNKS_PER_MIB
}

/// Bytes of one allocation.
const CHUNK: usize = 256 * 1024;
const CHUNKS_PER_MIB: u64 = 4;

/// Chunks that `max_mib` allows (saturating).
fn chunks_allowed(max_mib: u64) -> u64 {
    max_mib.saturating_mul(CHUNKS_PER_MIB)
}

/// Chunks due after `ticks` tenths of a second at `mib_per_sec` (saturating).
fn chunks_due(mib_per_sec: u64, ticks: u64) -> u64 {
    let due = u128::from(mib_per_sec)
        .checked_mul(u128::from(CHUNKS_PER_MIB) * u128::from(ticks))
        .map_or(u128::MAX, |d| d / 10);
    u64::try_from(due).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick(mib_per_sec: u64, max_mib: u64) -> u64 {
        run(Stress {
            duration: Duration::from_millis(350),
            threads: 0,
            mib_per_sec,
            max_mib,
            free_every: None,
        })
    }

    #[test]
    fn max_mib_is_never_exceeded() {
        // 1000 MiB/s would allocate 100 MiB in the first tick; the cap is 3.
        assert_eq!(quick(1000, 3), 3);
        assert_eq!(quick(5, 0), 0);
    }

    #[test]
    fn huge_rates_do_not_overflow() {
        assert_eq!(quick(u64::MAX, 2), 2);
        assert_eq!(chunks_due(u64::MAX, u64::MAX), u64::MAX);
        assert_eq!(chunks_allowed(u64::MAX), u64::MAX);
    }

    #[test]
    fn the_rate_is_exact_over_time() {
        // 1 MiB/s is 0.4 chunks a tick: 4 chunks after 10 ticks, not 1 per tick.
        assert_eq!(chunks_due(1, 10), 4);
        assert_eq!(chunks_due(1, 3), 1);
        assert_eq!(chunks_due(16, 1), 6);
    }
}
