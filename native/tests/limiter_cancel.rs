//! Cancellation and bad input of the native limiter (issue 4, part 5): 100,000 `run`,
//! `acquire`, `try_run` and `run_timeout` futures dropped at random points — while queued,
//! just after a grant, while holding — leave nothing in flight or queued, and later callers
//! are served.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use perfopt::limiter::{AcquireError, Algorithm, Limiter, LimiterConfig, LimiterLayer, Outcome};
use perfopt_core::limiter::{AimdConfig, LimiterError};
use rand::Rng;

mod common;
use common::{poll_then_drop, spawn_seeded};

const OPERATIONS: usize = 100_000;
const TASKS: usize = 16;

/// Work that holds its permit across a few scheduling points.
async fn work(yields: u32) -> u32 {
    for _ in 0..yields {
        tokio::task::yield_now().await;
    }
    yields
}

fn limiter(algorithm: Algorithm) -> Limiter {
    let mut config = LimiterConfig::new(algorithm);
    config.max_waiters = 8;
    config.max_wait = Some(Duration::from_millis(2));
    Limiter::new(config).expect("valid settings")
}

async fn hammer(limiter: Limiter, seed: u64) {
    spawn_seeded(
        TASKS,
        OPERATIONS / TASKS,
        seed,
        limiter,
        |limiter, mut rng| async move {
            let yields = rng.random_range(0..4);
            let polls = rng.random_range(1..8);
            match rng.random_range(0..10) {
                0..=4 => {
                    poll_then_drop(limiter.run(work(yields)), polls).await;
                }
                5 => {
                    let micros = rng.random_range(1..300);
                    let _ = tokio::time::timeout(
                        Duration::from_micros(micros),
                        limiter.run(work(yields)),
                    )
                    .await;
                }
                6 => {
                    let timeout = Duration::from_micros(rng.random_range(1..2_000));
                    poll_then_drop(limiter.run_timeout(timeout, work(yields)), polls).await;
                }
                7 => {
                    poll_then_drop(limiter.try_run(work(yields)), polls).await;
                }
                _ => {
                    let held = async {
                        let mut permit = limiter.acquire().await?;
                        permit.set_outcome(Outcome::Dropped);
                        work(yields).await;
                        permit.release(Outcome::Success);
                        Ok::<_, AcquireError>(())
                    };
                    poll_then_drop(held, polls).await;
                }
            }
        },
    )
    .await;
}

async fn assert_clean_and_serving(limiter: &Limiter) {
    // Wait for the timer task to finish anything it had started.
    for _ in 0..100 {
        if limiter.in_flight() == 0 && limiter.waiting() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    limiter.validate();
    assert_eq!(limiter.in_flight(), 0, "permits leaked");
    assert_eq!(limiter.waiting(), 0, "waiters leaked");
    let stats = limiter.stats();
    assert!(stats.cancelled > 0, "no cancellation exercised: {stats:?}");
    assert!(stats.dropped > 0, "no drop while holding: {stats:?}");
    // Nothing here releases as `Ignored` except the core's `cancel` of a permit granted to a
    // caller dropped before it saw the grant: the race was exercised.
    assert!(stats.ignored > 0, "no grant raced a drop: {stats:?}");
    eprintln!(
        "admitted {} (after wait {}), rejected {}, timed out {}, cancelled {}, \
         dropped while holding {}, undelivered grants handed back {}",
        stats.admitted,
        stats.admitted_after_wait,
        stats.rejected,
        stats.timed_out,
        stats.cancelled,
        stats.dropped,
        stats.ignored
    );
    // Later callers are served, all of them at once up to the limit.
    let limit = limiter.limit() as usize;
    let runs = (0..limit).map(|i| limiter.run(async move { i }));
    let served = futures_util::future::join_all(runs).await;
    assert!(served.iter().all(Result::is_ok), "{served:?}");
    assert_eq!(limiter.in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_futures_never_leak_permits_fixed() {
    let limiter = limiter(Algorithm::Fixed(4));
    hammer(limiter.clone(), 1).await;
    assert_clean_and_serving(&limiter).await;
    let stats = limiter.stats();
    assert!(stats.timed_out > 0 && stats.rejected > 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_futures_never_leak_permits_aimd() {
    let mut aimd = AimdConfig::default();
    aimd.initial_limit = 6;
    aimd.min_limit = 2;
    aimd.max_limit = 12;
    let limiter = limiter(Algorithm::Aimd(aimd));
    hammer(limiter.clone(), 2).await;
    assert_clean_and_serving(&limiter).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_caller_times_out_with_a_typed_error() {
    let limiter = limiter(Algorithm::Fixed(1));
    let held = limiter.acquire().await.expect("free");
    let started = std::time::Instant::now();
    let err = limiter.run(async {}).await.unwrap_err();
    assert!(matches!(err, AcquireError::TimedOut { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(
        limiter.try_run(async {}).await,
        Err(AcquireError::WouldWait)
    );
    drop(held);
    assert_eq!(limiter.run(async { 1 }).await, Ok(1));
    let stats = limiter.stats();
    assert_eq!((stats.timed_out, stats.in_flight, stats.waiting), (1, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_rejects_at_once() {
    let mut config = LimiterConfig::new(Algorithm::Fixed(1));
    config.max_waiters = 2;
    config.max_wait = None;
    let limiter = Arc::new(Limiter::new(config).expect("valid"));
    let held = limiter.acquire().await.expect("free");
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let limiter = Arc::clone(&limiter);
            tokio::spawn(async move { limiter.run(async { 7 }).await })
        })
        .collect();
    while limiter.waiting() < 2 {
        tokio::task::yield_now().await;
    }
    assert_eq!(limiter.run(async {}).await, Err(AcquireError::QueueFull));
    drop(held);
    for w in waiters {
        assert_eq!(w.await.expect("task"), Ok(7));
    }
    limiter.validate();
}

#[tokio::test(flavor = "current_thread")]
async fn run_all_keeps_input_order_with_per_item_errors() {
    let limiter = Limiter::fixed(2).expect("valid");
    let out = limiter
        .run_all((0..50u64).map(|i| async move {
            tokio::time::sleep(Duration::from_micros(50 - i)).await;
            i
        }))
        .await;
    assert_eq!(
        out.into_iter().map(|r| r.expect("ran")).collect::<Vec<_>>(),
        (0..50).collect::<Vec<_>>()
    );
    // With the queue closed (max_queue 0) and the permit taken, every item fails alone.
    let mut config = LimiterConfig::new(Algorithm::Fixed(1));
    config.max_waiters = 0;
    let closed = Limiter::new(config).expect("valid");
    let _held = closed.acquire().await.expect("free");
    let out = closed.run_all((0..3).map(|i| async move { i })).await;
    assert_eq!(out, vec![Err(AcquireError::QueueFull); 3]);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn run_timeout_releases_overrunning_work_as_timeout() {
    let limiter = Limiter::fixed(1).expect("valid");
    let err = limiter
        .run_timeout(
            Duration::from_millis(10),
            tokio::time::sleep(Duration::from_secs(1)),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        AcquireError::Elapsed {
            timeout: Duration::from_millis(10)
        }
    );
    let stats = limiter.stats();
    assert_eq!((stats.deadline_exceeded, stats.in_flight), (1, 0));
}

#[test]
fn bad_settings_are_typed_errors() {
    assert_eq!(
        Limiter::fixed(0).unwrap_err(),
        AcquireError::Config(LimiterError::ZeroLimit)
    );
    let mut config = LimiterConfig::default();
    config.max_wait = Some(Duration::ZERO);
    let err = Limiter::new(config).unwrap_err();
    assert_eq!(
        err,
        AcquireError::Config(LimiterError::ZeroDuration("max_wait"))
    );
    assert!(err.to_string().contains("max_wait"), "{err}");
    let mut aimd = AimdConfig::default();
    aimd.min_limit = 50;
    let err = Limiter::new(LimiterConfig::new(Algorithm::Aimd(aimd))).unwrap_err();
    assert!(err.to_string().contains("min_limit"), "{err}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let limiter = Limiter::fixed(1).expect("valid");
    let err = rt
        .block_on(limiter.run_timeout(Duration::ZERO, async {}))
        .unwrap_err();
    assert_eq!(
        err,
        AcquireError::Config(LimiterError::ZeroDuration("timeout"))
    );
}

#[tokio::test(flavor = "current_thread")]
async fn tower_layer_limits_a_service() {
    use tower_layer::Layer;
    use tower_service::Service;

    #[derive(Clone)]
    struct Echo;
    impl Service<u32> for Echo {
        type Response = u32;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<u32, Self::Error>>;
        fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, request: u32) -> Self::Future {
            std::future::ready(Ok(request + 1))
        }
    }

    let limiter = Limiter::fixed(1).expect("valid");
    let mut service = LimiterLayer::new(limiter.clone()).layer(Echo);
    poll_fn(|cx| service.poll_ready(cx)).await.expect("ready");
    let served = service.call(41).await.expect("infallible");
    assert_eq!(served.into_result().expect("admitted"), 42);
    let held = limiter.acquire().await.expect("free");
    let waited = tokio::time::timeout(Duration::from_millis(20), service.call(1)).await;
    assert!(waited.is_err(), "the call waited for the held permit");
    drop(held);
    assert_eq!(limiter.stats().succeeded, 2);
    assert_eq!(limiter.in_flight(), 0);
    // A refusal is a value, not an error: the inner service's error type is kept.
    let none_waits =
        Limiter::new(LimiterConfig::new(Algorithm::Fixed(1)).with_max_waiters(0)).expect("valid");
    let mut service = LimiterLayer::new(none_waits.clone()).layer(Echo);
    let _held = none_waits.acquire().await.expect("free");
    let refused: Result<perfopt::limiter::Limited<u32>, std::convert::Infallible> =
        service.call(1).await;
    let refusal = refused.expect("infallible").into_result().unwrap_err();
    assert!(refusal.is_rejection(), "{refusal}");
}

#[tokio::test(flavor = "current_thread")]
async fn axum_router_takes_the_limiter_layer_and_sheds_with_503() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use axum::routing::get;
    use perfopt::limiter::http_outcome;
    use tower_service::Service;

    let config = LimiterConfig::new(Algorithm::Fixed(1)).with_max_waiters(0);
    let limiter = Limiter::new(config).expect("valid");
    // The plain layer, as it is: no HandleErrorLayer, no adapter.
    let mut app: axum::Router = axum::Router::new()
        .route("/", get(|| async { "hello" }))
        .layer(LimiterLayer::new(limiter.clone()));
    let request = || Request::get("/").body(Body::empty()).expect("request");
    let ok = app.call(request()).await.expect("infallible");
    assert_eq!(ok.status(), StatusCode::OK);
    // With the only permit held and no queue, the request is shed: 503 + Retry-After.
    let held = limiter.acquire().await.expect("free");
    let shed = app.call(request()).await.expect("infallible");
    assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(shed.headers()[header::RETRY_AFTER], "1");
    drop(held);
    // A wait that times out is a 504.
    let waits =
        LimiterConfig::new(Algorithm::Fixed(1)).with_max_wait(Some(Duration::from_millis(5)));
    let limiter = Limiter::new(waits).expect("valid");
    let mut app: axum::Router = axum::Router::new()
        .route("/", get(|| async { "hello" }))
        .layer(LimiterLayer::new(limiter.clone()));
    let held = limiter.acquire().await.expect("free");
    let late = app.call(request()).await.expect("infallible");
    assert_eq!(late.status(), StatusCode::GATEWAY_TIMEOUT);
    drop(held);

    // With `http_outcome`, a 5xx releases its permit as a congestion signal; by default
    // every response is a success.
    let fails = || async { (StatusCode::INTERNAL_SERVER_ERROR, "down") };
    let limiter = Limiter::fixed(4).expect("valid");
    let mut classified: axum::Router = axum::Router::new()
        .route("/", get(fails))
        .layer(LimiterLayer::new(limiter.clone()).classify(http_outcome));
    let failed = classified.call(request()).await.expect("infallible");
    assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!((limiter.stats().dropped, limiter.stats().succeeded), (1, 0));
    let limiter = Limiter::fixed(4).expect("valid");
    let mut plain: axum::Router = axum::Router::new()
        .route("/", get(fails))
        .layer(LimiterLayer::new(limiter.clone()));
    plain.call(request()).await.expect("infallible");
    assert_eq!((limiter.stats().dropped, limiter.stats().succeeded), (0, 1));
}
