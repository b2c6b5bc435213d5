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
    let chunk = 256 * 1024;
    let per_tick = (s.mib_per_sec * 1024 * 1024 / 10) as usize;
    let mut next_free = s.free_every.map(|d| clock::now().saturating_add(d));
    while clock::now() < end {
        if let (Some(at), Some(every)) = (next_free, s.free_every)
            && clock::now() >= at
        {
            held = Vec::new();
            next_free = Some(at.saturating_add(every));
        }
        let held_mib = (held.len() * chunk) as u64 / (1024 * 1024);
        if held_mib < s.max_mib {
            let mut added = 0;
            while added < per_tick {
                // Touch every page so the memory is resident, not just reserved.
                held.push(vec![1u8; chunk]);
                added += chunk;
            }
        }
        std::thread::sleep(
            Duration::from_millis(100).min(end.saturating_duration_since(clock::now())),
        );
    }
    for t in spinners {
        let _ = black_box(t.join());
    }
    black_box(&held);
    (held.len() * chunk) as u64 / (1024 * 1024)
}
