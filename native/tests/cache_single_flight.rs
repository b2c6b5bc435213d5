//! Single-flight loading of the native cache: one load per key however many tasks wait,
//! errors shared and not cached, and a cancelled leader never strands its waiters.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use perfopt::cache::Cache;
use perfopt_core::cache::CacheConfig;

#[derive(Debug, PartialEq)]
struct LoadError(&'static str);

fn cache() -> Arc<Cache<String, u64>> {
    Arc::new(Cache::new(CacheConfig::new(1_000)).expect("valid config"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_concurrent_callers_share_one_load() {
    let cache = cache();
    let loads = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (cache, loads) = (Arc::clone(&cache), Arc::clone(&loads));
        tasks.push(tokio::spawn(async move {
            cache
                .get_or_load("k".to_string(), || async {
                    loads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok::<u64, LoadError>(42)
                })
                .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task ran").expect("loaded"), 42);
    }
    assert_eq!(
        loads.load(Ordering::SeqCst),
        1,
        "the loader ran more than once"
    );
    assert_eq!(cache.get("k"), Some(42));
    // Later calls are plain hits.
    let v = cache
        .get_or_load("k".to_string(), || async { Ok::<u64, LoadError>(0) })
        .await
        .expect("cached");
    assert_eq!(v, 42);
    assert_eq!(loads.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_error_reaches_every_waiter_and_is_not_cached() {
    let cache = cache();
    let loads = Arc::new(AtomicUsize::new(0));
    // Every caller starts before the (failing) load ends, however slow the machine.
    let started = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (cache, loads, started) =
            (Arc::clone(&cache), Arc::clone(&loads), Arc::clone(&started));
        tasks.push(tokio::spawn(async move {
            started.fetch_add(1, Ordering::SeqCst);
            let all_started = Arc::clone(&started);
            cache
                .get_or_load("bad".to_string(), || async move {
                    loads.fetch_add(1, Ordering::SeqCst);
                    while all_started.load(Ordering::SeqCst) < 20 {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Err::<u64, _>(LoadError("backend down"))
                })
                .await
        }));
    }
    let mut errors = Vec::new();
    for t in tasks {
        errors.push(t.await.expect("task ran").expect_err("the load failed"));
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert!(
        errors
            .iter()
            .all(|e| *e.get_ref() == LoadError("backend down"))
    );
    // One shared error value.
    let shared: Vec<Arc<LoadError>> = errors.into_iter().map(|e| e.into_shared()).collect();
    assert!(shared.iter().all(|e| Arc::ptr_eq(e, &shared[0])));
    assert_eq!(cache.get("bad"), None, "an error must not be cached");
    // A later call loads again.
    let v = cache
        .get_or_load("bad".to_string(), || async {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok::<u64, LoadError>(7)
        })
        .await
        .expect("second load succeeds");
    assert_eq!((v, loads.load(Ordering::SeqCst)), (7, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dropped_leader_does_not_strand_its_waiters() {
    let cache = cache();
    let loads = Arc::new(AtomicUsize::new(0));
    // The leader's load never finishes; it is cancelled by a timeout.
    let leader = {
        let (cache, loads) = (Arc::clone(&cache), Arc::clone(&loads));
        tokio::spawn(async move {
            tokio::time::timeout(
                Duration::from_millis(100),
                cache.get_or_load("slow".to_string(), || async {
                    loads.fetch_add(1, Ordering::SeqCst);
                    std::future::pending::<Result<u64, LoadError>>().await
                }),
            )
            .await
        })
    };
    // Let the leader start its load before the waiters arrive.
    while loads.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut waiters = Vec::new();
    for _ in 0..10 {
        let (cache, loads) = (Arc::clone(&cache), Arc::clone(&loads));
        waiters.push(tokio::spawn(async move {
            cache
                .get_or_load("slow".to_string(), || async {
                    loads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok::<u64, LoadError>(5)
                })
                .await
        }));
    }
    assert!(
        leader.await.expect("task ran").is_err(),
        "the leader timed out"
    );
    for w in waiters {
        let got = tokio::time::timeout(Duration::from_secs(5), w)
            .await
            .expect("a waiter hung after its leader was dropped")
            .expect("task ran");
        assert_eq!(got.expect("a waiter took over the load"), 5);
    }
    // The cancelled load, then exactly one takeover.
    assert_eq!(loads.load(Ordering::SeqCst), 2);
    assert_eq!(cache.get("slow"), Some(5));
}

#[test]
fn sharded_cache_sums_stats_and_expires() {
    let cache: Cache<u32, u32> = Cache::with_shards(
        CacheConfig::new(1_024).with_default_ttl(Duration::from_millis(30)),
        8,
    )
    .expect("valid config");
    assert_eq!(cache.shards(), 8);
    for k in 0..100 {
        assert_eq!(cache.get_or_insert_with(k, || k * 2), k * 2);
    }
    for k in 0..100 {
        assert_eq!(cache.get(&k), Some(k * 2));
    }
    let stats = cache.stats();
    assert_eq!((stats.hits(), stats.misses(), stats.len()), (100, 100, 100));
    assert_eq!(stats.capacity, 1_024);
    assert!(cache.poll_timeout().is_some());
    std::thread::sleep(Duration::from_millis(40));
    assert_eq!(cache.get(&1), None, "expired entries are never returned");
    cache.run_pending_tasks();
    assert!(cache.len() < 100);
    assert_eq!(cache.remove(&2), None);
    cache.insert(2, 4);
    assert_eq!(cache.remove(&2), Some(4));
    // Bad settings are refused up front.
    assert!(Cache::<u32, u32>::new(CacheConfig::new(0)).is_err());
}
