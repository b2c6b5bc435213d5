//! `/api/events`: the live report as server-sent events.
//!
//! Each event is `event: delta`, `id: <cursor>`, `data: <JSON of a core Delta>`: the samples
//! and alert records added since the reader's position plus the bounded parts (summaries,
//! recommendations, components, profile) whole — a few kilobytes a sample however long the
//! run, instead of the whole report. The position comes from the `Last-Event-ID` header
//! (sent by the browser's `EventSource` when it reconnects) or the `from` query parameter
//! (the cursor of the report the reader already has, [`Cursor::to_id`]); without either the
//! first event carries the whole series. So a reader that loses the stream and reconnects
//! catches up without a gap.
//!
//! One poller per server reads the source's report while at least one reader is connected
//! (every half interval, at most once a second; slower while nothing changes), so the work
//! does not grow with the number of readers. Streams end when the server shuts down.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::Stream;
use perfopt_core::report::Report;
use perfopt_core::report::delta::{Cursor, Delta};
use tokio::sync::watch;

use crate::clock;
use crate::http::ReportSource;

/// Tells every open stream to end (so a graceful shutdown does not wait on them).
#[derive(Debug)]
pub struct Stop(watch::Sender<bool>);

impl Stop {
    /// Ends every stream of the router made with the matching receiver.
    pub fn stop(&self) {
        let _ = self.0.send(true);
    }
}

/// A stop switch and the receiver [`router`] takes.
pub fn stop_switch() -> (Stop, watch::Receiver<bool>) {
    let (tx, rx) = watch::channel(false);
    (Stop(tx), rx)
}

struct Hub {
    source: Arc<dyn ReportSource>,
    latest: watch::Sender<Option<Arc<Report>>>,
    poller: Mutex<Option<tokio::task::JoinHandle<()>>>,
    stopped: watch::Receiver<bool>,
}

/// The `/api/events` route over `source`; its streams end when `stopped` turns true.
pub fn router(source: Arc<dyn ReportSource>, stopped: watch::Receiver<bool>) -> Router {
    let hub = Arc::new(Hub {
        source,
        latest: watch::channel(None).0,
        poller: Mutex::new(None),
        stopped,
    });
    Router::new()
        .route("/api/events", get(events))
        .with_state(hub)
}

#[derive(serde::Deserialize)]
struct Params {
    from: Option<String>,
}

async fn events(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    Query(params): Query<Params>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let cursor = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(Cursor::from_id)
        .or_else(|| params.from.as_deref().and_then(Cursor::from_id));
    let rx = hub.latest.subscribe();
    hub.ensure_poller();
    let state = Reader {
        rx,
        cursor,
        stopped: hub.stopped.clone(),
        first: true,
    };
    let stream = futures_util::stream::unfold(state, |mut r| async move {
        let event = r.next().await?;
        Some((Ok(event), r))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

struct Reader {
    rx: watch::Receiver<Option<Arc<Report>>>,
    cursor: Option<Cursor>,
    stopped: watch::Receiver<bool>,
    first: bool,
}

impl Reader {
    /// The next event: a `hello` at once, then a `delta` whenever the report has news.
    async fn next(&mut self) -> Option<Event> {
        if std::mem::take(&mut self.first) {
            // Tells the reader the stream is up before the first news arrives.
            return Some(
                Event::default()
                    .event("hello")
                    .data("{}")
                    .retry(Duration::from_millis(1000)),
            );
        }
        loop {
            if *self.stopped.borrow() {
                return None;
            }
            let report = self.rx.borrow_and_update().clone();
            if let Some(report) = report {
                let from = self.cursor.unwrap_or(Cursor {
                    started_at: report.meta.started_at,
                    last_t_ms: None,
                    alerts: 0,
                });
                let delta = Delta::since(&report, from);
                let news = self.cursor.is_none()
                    || delta.from != from
                    || !delta.t_ms.is_empty()
                    || !delta.alerts.is_empty();
                if news {
                    self.cursor = Some(delta.to);
                    // Plain data with string keys: serializing cannot fail.
                    let data = serde_json::to_string(&delta).unwrap_or_default();
                    return Some(
                        Event::default()
                            .event("delta")
                            .id(delta.to.to_id())
                            .data(data),
                    );
                }
            }
            tokio::select! {
                changed = self.rx.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                _ = self.stopped.changed() => return None,
            }
        }
    }
}

impl Hub {
    fn ensure_poller(self: &Arc<Self>) {
        let mut poller = self.poller.lock().unwrap_or_else(PoisonError::into_inner);
        if poller.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        let hub = Arc::downgrade(self);
        *poller = Some(tokio::spawn(async move {
            let mut quiet = 0u32;
            let mut last: Option<(u64, usize, usize, u64)> = None;
            loop {
                let Some(h) = hub.upgrade() else { return };
                if *h.stopped.borrow() || h.latest.receiver_count() == 0 {
                    return;
                }
                let source = h.source.clone();
                let began = clock::now();
                let Ok(report) = tokio::task::spawn_blocking(move || source.report()).await else {
                    return;
                };
                // A month-long report takes ~0.1 s to build: spend at most 1/20 of a core on
                // it, however many readers there are (they share each build), but never wait
                // more than 10 s (a build slowed by a saturated machine).
                let took = clock::now().saturating_duration_since(began);
                let key = (
                    report.meta.started_at,
                    report.series.len(),
                    report.alerts.len(),
                    report.series.t_ms().last().copied().unwrap_or(0),
                );
                let base = Duration::from_millis((report.meta.interval_ms / 2).clamp(100, 1000));
                if last != Some(key) {
                    last = Some(key);
                    quiet = 0;
                    h.latest.send_replace(Some(Arc::new(report)));
                } else {
                    quiet = quiet.saturating_add(1);
                }
                // Nothing new for a while (a saved report): look less often, up to 5 s.
                let wait = base
                    .saturating_mul(1 << quiet.saturating_sub(2).min(6))
                    .min(Duration::from_secs(5).max(base))
                    .max(took.saturating_mul(20).min(Duration::from_secs(10)));
                let mut stopped = h.stopped.clone();
                drop(h);
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = stopped.changed() => return,
                }
            }
        }));
    }
}
