//! Profiler: named scopes timed as a guard, as an async wrapper, or as `tracing` spans, with
//! per-scope calls, cumulative and self time and a latency histogram, shown as a top-N table
//! sorted by cumulative time (the seed's `print_stats(20)`).
//!
//! - [`Profiler::scope`] returns a guard that records on drop. Guards nest on one thread:
//!   time spent in an inner scope is subtracted from the outer one's *self* time. A guard is
//!   not `Send`, so the compiler stops it from being held across an `.await` in a spawned
//!   task (where the task could move to another thread mid-scope).
//! - [`Profiler::instrument`] times a future from its first poll to its completion (wall
//!   time, including time spent waiting); its self time equals its total.
//! - With the `alloc-count` feature and `perfopt::alloc_count::CountingAlloc` installed as
//!   the global allocator, guards also count the bytes allocated inside them.
//! - [`ProfileLayer`] is a `tracing_subscriber::Layer`: every span is a scope named after the
//!   span, timed from its first entry to its close; child spans are subtracted from their
//!   parent's self time. A service already instrumented with `tracing` needs no code change.
//!
//! # Example
//! ```
//! use perfopt::profile::Profiler;
//!
//! let profiler = Profiler::new();
//! {
//!     let _outer = profiler.scope("handle_request");
//!     let _inner = profiler.scope("db_query");
//! }
//! let table = profiler.table(20);
//! assert_eq!(table.len(), 2);
//! assert!(table.iter().all(|row| row.calls == 1));
//! ```

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use perfopt_core::Instant;
use perfopt_core::report::ProfileRow;
use perfopt_core::stats::Histogram;
use tracing::span;
use tracing_subscriber::layer;
use tracing_subscriber::registry::LookupSpan;

use crate::clock;

#[derive(Debug, Default, Clone)]
struct ScopeStats {
    alloc_bytes: u64,
    calls: u64,
    total_ns: u128,
    self_ns: u128,
    max_ns: u64,
    micros: Histogram,
}

/// Collects scope timings. Cheap to clone; clones share the same table.
#[derive(Clone, Debug)]
pub struct Profiler {
    scopes: Arc<Mutex<HashMap<&'static str, ScopeStats>>>,
    enabled: bool,
}

impl Default for Profiler {
    fn default() -> Self {
        Profiler {
            scopes: Arc::default(),
            enabled: true,
        }
    }
}

thread_local! {
    /// Time spent in nested guards, per open guard on this thread (innermost last).
    static CHILD_NS: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

impl Profiler {
    /// An empty profiler.
    pub fn new() -> Profiler {
        Profiler::default()
    }

    /// A profiler that records nothing (to measure what profiling costs).
    pub fn disabled() -> Profiler {
        Profiler {
            enabled: false,
            ..Profiler::default()
        }
    }

    /// Whether it records.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Records one call of `name` that took `total`, of which `self_time` outside nested scopes.
    pub fn record(&self, name: &'static str, total: Duration, self_time: Duration) {
        self.record_with_alloc(name, total, self_time, 0);
    }

    fn record_with_alloc(
        &self,
        name: &'static str,
        total: Duration,
        self_time: Duration,
        alloc: u64,
    ) {
        if !self.enabled {
            return;
        }
        let total_ns = u64::try_from(total.as_nanos()).unwrap_or(u64::MAX);
        let self_ns = u64::try_from(self_time.as_nanos())
            .unwrap_or(u64::MAX)
            .min(total_ns);
        let mut scopes = self.scopes.lock().unwrap_or_else(PoisonError::into_inner);
        let s = scopes.entry(name).or_default();
        s.alloc_bytes = s.alloc_bytes.wrapping_add(alloc);
        s.calls += 1;
        s.total_ns += u128::from(total_ns);
        s.self_ns += u128::from(self_ns);
        s.max_ns = s.max_ns.max(total_ns);
        s.micros.record(total_ns / 1000);
    }

    /// Times the rest of the enclosing block as scope `name`.
    pub fn scope(&self, name: &'static str) -> ScopeGuard<'_> {
        if self.enabled {
            CHILD_NS.with(|c| c.borrow_mut().push(0));
        }
        ScopeGuard {
            profiler: self,
            name,
            allocated_at_start: allocated(),
            start: if self.enabled {
                clock::now()
            } else {
                Instant::ZERO
            },
            _not_send: std::marker::PhantomData,
        }
    }

    /// Times `future` as scope `name`, from its first poll to its completion.
    pub fn instrument<F: Future>(&self, name: &'static str, future: F) -> Instrumented<F> {
        Instrumented {
            profiler: self.clone(),
            name,
            start: None,
            future: Box::pin(future),
        }
    }

    /// A `tracing` layer feeding this profiler.
    pub fn layer(&self) -> ProfileLayer {
        ProfileLayer {
            profiler: self.clone(),
        }
    }

    /// The `n` scopes with the largest cumulative time, largest first.
    pub fn table(&self, n: usize) -> Vec<ProfileRow> {
        let scopes = self.scopes.lock().unwrap_or_else(PoisonError::into_inner);
        let ms = |ns: u128| ns as f64 / 1e6;
        let mut rows: Vec<ProfileRow> = scopes
            .iter()
            .map(|(name, s)| ProfileRow {
                scope: (*name).to_string(),
                calls: s.calls,
                total_ms: ms(s.total_ns),
                self_ms: ms(s.self_ns),
                mean_ms: ms(s.total_ns) / s.calls.max(1) as f64,
                p50_ms: s.micros.quantile(0.5).unwrap_or(0) as f64 / 1000.0,
                p99_ms: s.micros.quantile(0.99).unwrap_or(0) as f64 / 1000.0,
                max_ms: s.max_ns as f64 / 1e6,
                alloc_bytes: cfg!(feature = "alloc-count").then_some(s.alloc_bytes),
            })
            .collect();
        rows.sort_by(|a, b| {
            b.total_ms
                .total_cmp(&a.total_ms)
                .then(a.scope.cmp(&b.scope))
        });
        rows.truncate(n);
        rows
    }

    /// Forgets every scope.
    pub fn clear(&self) {
        self.scopes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// Records its scope when dropped. See [`Profiler::scope`].
#[derive(Debug)]
#[must_use = "the scope ends when the guard is dropped"]
pub struct ScopeGuard<'a> {
    profiler: &'a Profiler,
    name: &'static str,
    allocated_at_start: u64,
    start: Instant,
    /// Not `Send`: nesting is tracked per thread, so a guard must not be held across an
    /// `.await` in a task that may move; use [`Profiler::instrument`] for async code.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for ScopeGuard<'_> {
    fn drop(&mut self) {
        if !self.profiler.enabled {
            return;
        }
        let total = clock::now().saturating_duration_since(self.start);
        let total_ns = u64::try_from(total.as_nanos()).unwrap_or(u64::MAX);
        let children = CHILD_NS.with(|c| {
            let mut stack = c.borrow_mut();
            let mine = stack.pop().unwrap_or(0);
            if let Some(parent) = stack.last_mut() {
                *parent = parent.saturating_add(total_ns);
            }
            mine
        });
        let self_time = Duration::from_nanos(total_ns.saturating_sub(children));
        let alloc = allocated().wrapping_sub(self.allocated_at_start);
        self.profiler
            .record_with_alloc(self.name, total, self_time, alloc);
    }
}

/// Bytes this thread has allocated, with the `alloc-count` feature's allocator installed.
fn allocated() -> u64 {
    #[cfg(feature = "alloc-count")]
    {
        crate::alloc_count::thread_allocated()
    }
    #[cfg(not(feature = "alloc-count"))]
    {
        0
    }
}

/// A future timed as a scope. See [`Profiler::instrument`].
#[must_use = "futures do nothing unless polled"]
pub struct Instrumented<F> {
    profiler: Profiler,
    name: &'static str,
    start: Option<Instant>,
    future: Pin<Box<F>>,
}

impl<F> std::fmt::Debug for Instrumented<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instrumented")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        if !self.profiler.enabled {
            return self.future.as_mut().poll(cx);
        }
        let start = *self.start.get_or_insert_with(clock::now);
        match self.future.as_mut().poll(cx) {
            Poll::Ready(out) => {
                let total = clock::now().saturating_duration_since(start);
                self.profiler.record(self.name, total, total);
                Poll::Ready(out)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A `tracing_subscriber` layer that profiles every span. See [`Profiler::layer`].
#[derive(Clone, Debug)]
pub struct ProfileLayer {
    profiler: Profiler,
}

struct SpanTiming {
    start: Option<Instant>,
    children_ns: u64,
}

impl<S> tracing_subscriber::Layer<S> for ProfileLayer
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, _: &span::Attributes<'_>, id: &span::Id, ctx: layer::Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanTiming {
                start: None,
                children_ns: 0,
            });
        }
    }

    fn on_enter(&self, id: &span::Id, ctx: layer::Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(t) = span.extensions_mut().get_mut::<SpanTiming>()
        {
            t.start.get_or_insert_with(clock::now);
        }
    }

    fn on_close(&self, id: span::Id, ctx: layer::Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some((start, children_ns)) = span
            .extensions()
            .get::<SpanTiming>()
            .and_then(|t| t.start.map(|s| (s, t.children_ns)))
        else {
            return; // never entered: nothing ran in it
        };
        let total = clock::now().saturating_duration_since(start);
        let total_ns = u64::try_from(total.as_nanos()).unwrap_or(u64::MAX);
        if let Some(parent) = span.parent()
            && let Some(t) = parent.extensions_mut().get_mut::<SpanTiming>()
        {
            t.children_ns = t.children_ns.saturating_add(total_ns);
        }
        let self_time = Duration::from_nanos(total_ns.saturating_sub(children_ns));
        self.profiler.record(span.name(), total, self_time);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread::sleep;

    #[test]
    fn nested_guards_split_self_time() {
        let p = Profiler::new();
        for _ in 0..3 {
            let _outer = p.scope("outer");
            sleep(Duration::from_millis(4));
            let _inner = p.scope("inner");
            sleep(Duration::from_millis(8));
        }
        let t = p.table(20);
        assert_eq!(t[0].scope, "outer", "sorted by cumulative time: {t:?}");
        let (outer, inner) = (&t[0], &t[1]);
        assert_eq!((outer.calls, inner.calls), (3, 3));
        assert!(outer.total_ms >= inner.total_ms + 12.0, "{t:?}");
        assert!(
            (outer.self_ms - (outer.total_ms - inner.total_ms)).abs() < 0.5,
            "{t:?}"
        );
        assert!((inner.self_ms - inner.total_ms).abs() < 1e-9);
        assert!(inner.p50_ms >= 8.0 && inner.max_ms >= inner.p99_ms, "{t:?}");
        assert_eq!(p.table(1).len(), 1);
    }

    #[cfg(feature = "alloc-count")]
    #[test]
    fn scopes_count_the_bytes_allocated_inside_them() {
        #[global_allocator]
        static ALLOC: crate::alloc_count::CountingAlloc = crate::alloc_count::CountingAlloc;
        let p = Profiler::new();
        for _ in 0..4 {
            let _g = p.scope("alloc");
            std::hint::black_box(vec![0u8; 1 << 20]);
        }
        let row = &p.table(1)[0];
        let bytes = row.alloc_bytes.unwrap();
        assert!((4 << 20..(4 << 20) + 64 * 1024).contains(&bytes), "{bytes}");
    }

    #[tokio::test]
    async fn a_disabled_profiler_records_nothing() {
        let p = Profiler::disabled();
        {
            let _g = p.scope("a");
        }
        p.instrument("b", async {}).await;
        p.record("c", Duration::from_millis(1), Duration::from_millis(1));
        assert!(p.table(10).is_empty());
        assert!(!p.is_enabled() && Profiler::new().is_enabled());
    }

    #[tokio::test]
    async fn instrumented_futures_are_timed_to_completion() {
        let p = Profiler::new();
        let v = p
            .instrument("wait", async {
                tokio::time::sleep(Duration::from_millis(15)).await;
                7
            })
            .await;
        assert_eq!(v, 7);
        let row = &p.table(5)[0];
        assert_eq!((row.scope.as_str(), row.calls), ("wait", 1));
        assert!(row.total_ms >= 15.0, "{row:?}");
    }

    #[test]
    fn tracing_spans_become_scopes() {
        use tracing_subscriber::layer::SubscriberExt;
        let p = Profiler::new();
        let subscriber = tracing_subscriber::registry().with(p.layer());
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..2 {
                let outer = tracing::info_span!("request");
                let _o = outer.enter();
                sleep(Duration::from_millis(3));
                let inner = tracing::info_span!("query");
                let _i = inner.enter();
                sleep(Duration::from_millis(5));
            }
            // Created but never entered: not counted.
            let _idle = tracing::info_span!("idle");
        });
        let t = p.table(10);
        let get = |n: &str| t.iter().find(|r| r.scope == n).cloned();
        let (request, query) = (get("request").unwrap(), get("query").unwrap());
        assert_eq!((request.calls, query.calls), (2, 2));
        assert!(get("idle").is_none());
        assert!(request.self_ms < request.total_ms - 9.0, "{t:?}");
        assert!((query.self_ms - query.total_ms).abs() < 1e-9);
    }
}
