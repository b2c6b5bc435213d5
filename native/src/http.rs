//! The HTTP face of perfopt (axum): `/` the viewer, `/api/report` the current report as
//! JSON, `/api/events` the live report as server-sent events ([`crate::events`]),
//! `/metrics` the Prometheus text format. Binds 127.0.0.1 unless told otherwise.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use perfopt_core::report::Report;
use tokio::net::TcpListener;

use crate::monitor::MonitorHandle;
use crate::{prometheus, viewer};

/// Where the server gets the report it shows.
pub trait ReportSource: Send + Sync + 'static {
    /// The report as of now.
    fn report(&self) -> Report;
}

impl ReportSource for MonitorHandle {
    fn report(&self) -> Report {
        MonitorHandle::report(self)
    }
}

/// A saved report, served as is.
#[derive(Debug)]
pub struct SavedReport(pub Report);

impl ReportSource for SavedReport {
    fn report(&self) -> Report {
        self.0.clone()
    }
}

type Source = Arc<dyn ReportSource>;

/// The routes.
pub fn router(source: Source) -> Router {
    Router::new()
        .route("/api/report", get(api_report))
        .route("/metrics", get(metrics))
        .fallback(get(static_file))
        .with_state(source)
}

/// Binds `addr`, for [`serve`]. Port 0 picks a free port; read it from `local_addr`.
///
/// # Errors
/// The bind error (address in use, permission denied, …).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `source` on `listener` until `shutdown` completes.
///
/// # Errors
/// An I/O error of the accept loop.
pub async fn serve(
    listener: TcpListener,
    source: Source,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // `/api/events` (server-sent events): its streams end when the server shuts down.
    let (stop, stopped) = crate::events::stop_switch();
    let app = router(source.clone()).merge(crate::events::router(source, stopped));
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            stop.stop();
        })
        .await
}

async fn api_report(State(source): State<Source>) -> Response {
    let json = source.report().to_json();
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        json,
    )
        .into_response()
}

async fn metrics(State(source): State<Source>) -> Response {
    let text = prometheus::render(&source.report());
    ([(header::CONTENT_TYPE, prometheus::CONTENT_TYPE)], text).into_response()
}

async fn static_file(uri: Uri) -> Response {
    match viewer::asset(uri.path()) {
        Some(a) => ([(header::CONTENT_TYPE, a.content_type)], a.bytes).into_response(),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}
