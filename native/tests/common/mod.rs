//! Helpers shared by the cancellation tests of the limiter and the pool.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;

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
