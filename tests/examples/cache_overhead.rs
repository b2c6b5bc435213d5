//! Prints the memory-overhead table of `BENCHMARKS.md` (section "Cache"): heap bytes per
//! entry beyond the key and the value, for each peer and for perfopt's caches.
//!
//! ```text
//! cargo run --release -p perfopt-tests --example cache_overhead
//! ```
//!
//! Method: a counting global allocator tracks live heap bytes (bytes requested from the
//! allocator; its own per-block bookkeeping is not seen, the same for every cache). For
//! each cache: build it with a capacity of [`N`] entries, insert `N` distinct `u64 → u64`
//! entries, settle it (moka: `run_pending_tasks`), and read the live bytes it holds.
//! Overhead per entry = (held bytes − 16 · entries) / entries, where `entries` is what the
//! cache really holds at the end (all of them, unless a policy declined some) and 16 bytes
//! are the key and the value. Everything the cache allocated counts: index tables,
//! frequency sketches, timer wheels, shards.

use std::alloc::{GlobalAlloc, Layout, System};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use perfopt_core::cache::{Cache, CacheConfig};

/// Entries inserted into each cache (and its capacity).
const N: u64 = 100_000;

/// The system allocator, counting the bytes live at any moment.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// The one `unsafe` of this example: a global allocator must implement an unsafe trait.
// Every method forwards to `System` with the caller's arguments unchanged (so the caller's
// guarantees are passed on as they are) and only adds bookkeeping on an atomic.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; `layout` meets `GlobalAlloc::alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is; `ptr` was allocated by `System` with `layout`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Builds a cache with `build`, fills it with `fill`, and prints its row. `fill` returns
/// the number of entries held at the end; the cache is dropped only after measuring.
fn measure<C>(name: &str, build: impl FnOnce() -> C, fill: impl FnOnce(&mut C) -> u64) {
    let before = live();
    let mut cache = build();
    let held = fill(&mut cache);
    let bytes = (live() - before) as f64;
    let per_entry = (bytes - 16.0 * held as f64) / held.max(1) as f64;
    println!(
        "| {name} | {held} | {:.2} MiB | {per_entry:.1} |",
        bytes / (1024.0 * 1024.0)
    );
    drop(cache);
}

fn main() {
    let n_usize = N as usize;
    let now = perfopt_core::Instant::ZERO;
    println!("| cache | entries held | heap held | overhead, bytes/entry |");
    println!("|---|---:|---:|---:|");
    measure(
        "lru::LruCache",
        || lru::LruCache::new(NonZeroUsize::new(n_usize).expect("N > 0")),
        |c| {
            (0..N).for_each(|k| {
                c.put(k, k);
            });
            c.len() as u64
        },
    );
    measure(
        "quick_cache::unsync::Cache",
        || quick_cache::unsync::Cache::new(n_usize),
        |c| {
            (0..N).for_each(|k| c.insert(k, k));
            c.len() as u64
        },
    );
    measure(
        "quick_cache::sync::Cache",
        || quick_cache::sync::Cache::new(n_usize),
        |c| {
            (0..N).for_each(|k| c.insert(k, k));
            c.len() as u64
        },
    );
    measure(
        "moka::sync::Cache",
        || moka::sync::Cache::new(N),
        |c| {
            (0..N).for_each(|k| c.insert(k, k));
            c.run_pending_tasks();
            c.entry_count()
        },
    );
    measure(
        "moka::sync::Cache, TTL 60 s",
        || {
            moka::sync::Cache::builder()
                .max_capacity(N)
                .time_to_live(Duration::from_secs(60))
                .build()
        },
        |c| {
            (0..N).for_each(|k| c.insert(k, k));
            c.run_pending_tasks();
            c.entry_count()
        },
    );
    measure(
        "perfopt_core::cache::Cache",
        || Cache::new(CacheConfig::new(N)).expect("valid config"),
        |c| {
            (0..N).for_each(|k| {
                c.insert(now, k, k);
            });
            c.len() as u64
        },
    );
    measure(
        "perfopt_core::cache::Cache, TTL 60 s",
        || {
            Cache::new(CacheConfig::new(N).with_default_ttl(Duration::from_secs(60)))
                .expect("valid config")
        },
        |c| {
            (0..N).for_each(|k| {
                c.insert(now, k, k);
            });
            c.len() as u64
        },
    );
    measure(
        "perfopt::cache::Cache (native, sharded)",
        || perfopt::cache::Cache::new(CacheConfig::new(N)).expect("valid config"),
        |c| {
            (0..N).for_each(|k| {
                c.insert(k, k);
            });
            c.len() as u64
        },
    );
    measure(
        "perfopt::cache::Cache (native, sharded), TTL 60 s",
        || {
            perfopt::cache::Cache::new(
                CacheConfig::new(N).with_default_ttl(Duration::from_secs(60)),
            )
            .expect("valid config")
        },
        |c| {
            (0..N).for_each(|k| {
                c.insert(k, k);
            });
            c.len() as u64
        },
    );
}
