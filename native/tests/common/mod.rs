//! Helpers shared by the cancellation tests of the limiter and the pool.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Polls `fut` at most `polls` times (yielding to other tasks in between), then drops it.
pub(crate) async fn poll_then_drop<F: Future>(fut: F, polls: u32) -> Option<F::Output> {
    let mut fut = pin!(fut);
    for _ in 0..polls {
        if let Poll::Ready(out) = poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await {
            return Some(out);
        }
        tokio::task::yield_now().await;
    }
    None
}

/// Spawns `tasks` tasks that each run `op(handle, rng)` `per_task` times, one after the
/// other, with a generator of its own for every operation (drawn from the task's, seeded
/// from `seed` and the task's number); waits for all of them.
pub(crate) async fn spawn_seeded<H, F, Fut>(
    tasks: usize,
    per_task: usize,
    seed: u64,
    handle: H,
    op: F,
) where
    H: Clone + Send + 'static,
    F: Fn(H, SmallRng) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let (handle, op) = (handle.clone(), op.clone());
            let mut rng = SmallRng::seed_from_u64(seed * 1000 + t as u64);
            tokio::spawn(async move {
                for _ in 0..per_task {
                    op(handle.clone(), SmallRng::seed_from_u64(rng.random())).await;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("task");
    }
}
