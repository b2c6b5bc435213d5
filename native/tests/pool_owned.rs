//! Owned guards and closing (issue 14, item 2): `Pool::get_owned` and
//! `Limiter::acquire_owned` guards move into `tokio::spawn`; `Pool::close` fails waiters with
//! a typed error, closes idle connections at once and returned ones on return.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use perfopt::limiter::Limiter;
use perfopt::pool::{GetError, ObjectManager, Pool, PoolConfig};

/// An object that counts how many of its kind are alive.
#[derive(Debug)]
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn counted_pool(max_size: usize, live: &Arc<AtomicUsize>) -> Pool<ObjectManager<Counted>> {
    let live = Arc::clone(live);
    let manager = ObjectManager::new(
        move || {
            live.fetch_add(1, Ordering::SeqCst);
            Counted(Arc::clone(&live))
        },
        |_| {},
    );
    let config = PoolConfig::for_objects(max_size).with_max_wait(Some(Duration::from_secs(5)));
    Pool::new(manager, config).expect("valid settings")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owned_guards_move_into_spawned_tasks() {
    let live = Arc::new(AtomicUsize::new(0));
    let pool = counted_pool(2, &live);
    let limiter = Limiter::fixed(2).expect("valid");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (pool, limiter) = (pool.clone(), limiter.clone());
            tokio::spawn(async move {
                let permit = limiter.acquire_owned().await.expect("a permit");
                let conn = pool.get_owned().await.expect("a connection");
                // Both guards move into another task and are dropped there.
                tokio::spawn(async move {
                    tokio::task::yield_now().await;
                    drop((conn, permit));
                })
                .await
                .expect("inner task");
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!((pool.in_use(), limiter.in_flight()), (0, 0));
    assert!(pool.size() <= 2 && live.load(Ordering::SeqCst) == pool.size());
    assert_eq!(limiter.stats().admitted, 8);
    pool.validate();
    limiter.validate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_fails_waiters_and_closes_connections() {
    // A waiter queued when the pool closes fails with a typed error.
    let live = Arc::new(AtomicUsize::new(0));
    let pool = counted_pool(1, &live);
    let held = pool.get_owned().await.expect("the only connection");
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(|_| ()) })
    };
    while pool.waiting() == 0 {
        tokio::task::yield_now().await;
    }
    pool.close();
    let err = waiter.await.expect("task").unwrap_err();
    assert!(matches!(err, GetError::Closed { .. }), "{err:?}");
    assert!(err.to_string().contains("closed"), "{err}");
    pool.close(); // twice is harmless
    assert!(pool.is_closed());
    assert!(matches!(
        pool.get().await.unwrap_err(),
        GetError::Closed { .. }
    ));
    assert!(matches!(
        pool.try_get().unwrap_err(),
        GetError::Closed { .. }
    ));
    // The connection in use closes when it comes back.
    assert_eq!(live.load(Ordering::SeqCst), 1);
    drop(held);
    assert_eq!((live.load(Ordering::SeqCst), pool.size()), (0, 0));
    pool.validate();

    // Idle connections close at once.
    let pool = counted_pool(2, &live);
    let (a, b) = (pool.get().await.expect("a"), pool.get().await.expect("b"));
    drop((a, b));
    assert_eq!((pool.idle(), live.load(Ordering::SeqCst)), (2, 2));
    pool.close();
    assert_eq!((pool.idle(), live.load(Ordering::SeqCst)), (0, 0));
    let stats = pool.stats();
    assert_eq!((stats.closed_shutdown, stats.created), (2, 2), "{stats:?}");
    pool.validate();
}
