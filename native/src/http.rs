//! The HTTP face of perfopt (axum on hyper): `/` the viewer, `/api/report` the current report
//! as JSON, `/api/events` the live report as server-sent events ([`crate::events`]),
//! `/metrics` the Prometheus text format.
//!
//! Hardened for hostile clients (see `RELIABILITY.md`):
//! - **Timeouts and a cap**: a request's headers must arrive within
//!   [`ServeOptions::header_timeout`] (this also closes idle keep-alive connections), a
//!   connection on which no byte moves for [`ServeOptions::idle_timeout`] while no request is
//!   being handled is closed (a client that stops reading its response), and at most
//!   [`ServeOptions::max_connections`] connections are served at once (the rest wait in the
//!   kernel's backlog, so the process never runs out of file descriptors).
//! - **One encode per change**: the report is read and encoded (JSON, Prometheus text) once per
//!   version of the source, on the blocking thread pool, and the bytes are shared by every
//!   reader; a slow reader holds a reference, not a copy.
//! - **Who may ask**: loopback by default; binding elsewhere needs a bearer token
//!   ([`check_exposure`]); on loopback the `Host` header must name loopback (DNS rebinding).
//! - **What the browser may do**: every response carries a Content-Security-Policy,
//!   `X-Content-Type-Options: nosniff` and `Cache-Control: no-store`; only GET and HEAD are
//!   served, on known routes.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use perfopt_core::report::Report;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::monitor::MonitorHandle;
use crate::{clock, prometheus, viewer};

/// Where the server gets the report it shows.
pub trait ReportSource: Send + Sync + 'static {
    /// The report as of now. Called on the blocking thread pool, once per [`version`].
    ///
    /// [`version`]: ReportSource::version
    fn report(&self) -> Report;

    /// The current figures without the history (`series` may hold only each metric's latest
    /// value, no rollups): what `/metrics` renders. Called on the blocking thread pool, once
    /// per [`version`]. The default is the whole [`report`](ReportSource::report).
    ///
    /// [`version`]: ReportSource::version
    fn latest(&self) -> Report {
        self.report()
    }

    /// A number that changes whenever [`report`](ReportSource::report) would return something
    /// new; the server encodes the report once per version. `None` (the default) means
    /// unknown: the report is then re-read at most every [`UNVERSIONED_MAX_AGE`].
    fn version(&self) -> Option<u64> {
        None
    }
}

/// How long an encoded report of a source without [`ReportSource::version`] is reused.
pub const UNVERSIONED_MAX_AGE: Duration = Duration::from_millis(500);

impl ReportSource for MonitorHandle {
    fn report(&self) -> Report {
        MonitorHandle::report(self)
    }

    fn latest(&self) -> Report {
        MonitorHandle::latest(self)
    }

    fn version(&self) -> Option<u64> {
        Some(self.samples_taken())
    }
}

/// A saved report, served as is.
#[derive(Debug)]
pub struct SavedReport(pub Report);

impl ReportSource for SavedReport {
    fn report(&self) -> Report {
        self.0.clone()
    }

    fn version(&self) -> Option<u64> {
        Some(0)
    }
}

/// What the routes read the report from: a monitor handle, a saved report, or your own.
pub type Source = Arc<dyn ReportSource>;

/// The environment variable read for the bearer token when `--token` is not given.
pub const TOKEN_ENV: &str = "PERFOPT_TOKEN";

/// The shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// The cookie a browser gets after opening `/?token=<token>` once.
const TOKEN_COOKIE: &str = "perfopt_token";

/// The Content-Security-Policy of every response: the viewer's own files and WebAssembly,
/// nothing inline, nothing from elsewhere, no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Limits and access control of the server.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Bearer token every request must carry (`Authorization: Bearer <token>`, or the cookie
    /// set by opening `/?token=<token>`). Required when bound beyond loopback.
    pub token: Option<String>,
    /// Time a client has to send a request's headers (also the keep-alive idle time).
    pub header_timeout: Duration,
    /// A connection on which no byte moves for this long while no request is being handled
    /// is closed (a client that stopped reading). Streams must send something more often.
    pub idle_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Longest request head (request line and headers), bytes.
    pub max_header_bytes: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            token: None,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 256,
            max_header_bytes: 64 * 1024,
        }
    }
}

/// Decides whether serving on `addr` is allowed. Loopback is always allowed; any other
/// address (including `0.0.0.0`) needs a token, and then yields a warning to print.
///
/// # Errors
/// A one-line message for a missing or weak token.
pub fn check_exposure(addr: SocketAddr, token: Option<&str>) -> Result<Option<String>, String> {
    if let Some(t) = token {
        check_token(t)?;
    }
    if addr.ip().is_loopback() {
        return Ok(None);
    }
    match token {
        None => Err(format!(
            "refusing to serve on {addr} without a token: anyone who can reach it could read the \
             report (and the watched command line); pass --token <secret> (at least \
             {MIN_TOKEN_LEN} characters) or set {TOKEN_ENV}, or bind 127.0.0.1"
        )),
        Some(_) => Ok(Some(format!(
            "warning: serving on {addr}, beyond this machine; every request needs \
             `Authorization: Bearer <token>` (a browser: open http://<host>:{}/?token=<token> once)",
            addr.port()
        ))),
    }
}

fn check_token(t: &str) -> Result<(), String> {
    if t.len() < MIN_TOKEN_LEN {
        return Err(format!(
            "the token is too short: use at least {MIN_TOKEN_LEN} characters"
        ));
    }
    if !t
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
    {
        return Err(String::from(
            "the token may only contain A-Z a-z 0-9 - _ . ~ (it goes into URLs and cookies)",
        ));
    }
    Ok(())
}

/// One version of the report's encodings, each read and made on first use and shared.
struct Snapshot {
    version: Option<u64>,
    taken: perfopt_core::Instant,
    json: OnceLock<Json>,
    metrics: OnceLock<Bytes>,
}

/// The JSON encodings of one read of the report.
#[derive(Clone)]
struct Json {
    /// The whole report.
    full: Bytes,
    /// `/api/report?overview`: [`Report::overview`] of at most [`OVERVIEW_ROWS`] rows, when
    /// the report has one.
    overview: Option<Bytes>,
}

struct App {
    source: Source,
    current: Mutex<Option<Arc<Snapshot>>>,
    /// One refresh at a time: readers that find the snapshot stale wait for it.
    refresh: tokio::sync::Mutex<()>,
    token: Option<String>,
    /// Bound on loopback: the `Host` header must name loopback.
    check_host: bool,
    /// Keeps `/api/events` streams open for a router made by [`router`] (no shutdown).
    _events_stop: Option<crate::events::Stop>,
}

impl App {
    fn fresh(&self) -> Option<Arc<Snapshot>> {
        let cur = self
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        let ok = match (self.source.version(), cur.version) {
            (Some(now), Some(had)) => now == had,
            (None, None) => clock::now().saturating_duration_since(cur.taken) < UNVERSIONED_MAX_AGE,
            _ => false,
        };
        ok.then_some(cur)
    }

    async fn snapshot(self: &Arc<Self>) -> Option<Arc<Snapshot>> {
        if let Some(s) = self.fresh() {
            return Some(s);
        }
        let _one = self.refresh.lock().await;
        if let Some(s) = self.fresh() {
            return Some(s);
        }
        // The version first: a change while reading only causes one more refresh.
        let snap = Arc::new(Snapshot {
            version: self.source.version(),
            taken: clock::now(),
            json: OnceLock::new(),
            metrics: OnceLock::new(),
        });
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(snap.clone());
        Some(snap)
    }

    /// The bytes of one encoding of the current version, read and encoded once on the
    /// blocking pool.
    async fn encoded<T: Clone + Send + Sync + 'static>(
        self: &Arc<Self>,
        pick: fn(&Snapshot) -> &OnceLock<T>,
        encode: fn(&dyn ReportSource) -> T,
    ) -> Option<T> {
        let snap = self.snapshot().await?;
        if let Some(b) = pick(&snap).get() {
            return Some(b.clone());
        }
        let source = self.source.clone();
        tokio::task::spawn_blocking(move || pick(&snap).get_or_init(|| encode(&*source)).clone())
            .await
            .ok()
    }
}

fn encode_json(source: &dyn ReportSource) -> Json {
    // Compact: the viewer parses it; `report show --format json` pretty-prints.
    let report = source.report();
    Json {
        full: Bytes::from(serde_json::to_vec(&report).unwrap_or_default()),
        overview: report
            .overview(OVERVIEW_ROWS)
            .map(|o| Bytes::from(serde_json::to_vec(&o).unwrap_or_default())),
    }
}

/// Most rows of `/api/report?overview` (the viewer draws a rollup of up to that many rows
/// for a whole run that its full resolution does not cover).
pub const OVERVIEW_ROWS: usize = 5000;

fn encode_metrics(source: &dyn ReportSource) -> Bytes {
    Bytes::from(prometheus::render(&source.latest()))
}

/// The routes (viewer, `/api/report`, `/api/events`, `/metrics`) for a service to embed, with
/// the security headers and the GET/HEAD-only rule. The `Host` check and the token belong to
/// perfopt's own server ([`serve_with`]): a service that embeds these routes decides its own
/// exposure. To mount them under a prefix, use [`mounted`].
pub fn router(source: Source) -> Router {
    let (stop, stopped) = crate::events::stop_switch();
    router_with(source, &ServeOptions::default(), false, stopped, Some(stop))
}

/// [`router`] under `prefix` (such as `/perf`), to `merge` into a service's router:
/// `{prefix}` redirects to `{prefix}/` (the viewer's links are relative), `{prefix}/` is the
/// viewer and `{prefix}/api/report`, `{prefix}/metrics`… the rest. It adds no fallback, so
/// the service's own `/` and fallback stay its own. An empty prefix or `/` gives [`router`].
///
/// ```
/// use axum::{Router, routing::get};
///
/// fn app(source: perfopt::http::Source) -> Router {
///     Router::new()
///         .route("/", get(|| async { "my service" }))
///         .merge(perfopt::http::mounted("/perf", source))
/// }
/// ```
pub fn mounted(prefix: &str, source: Source) -> Router {
    let prefix = prefix.trim_end_matches('/').to_string();
    let inner = router(source);
    if prefix.is_empty() {
        return inner;
    }
    let strip = {
        let prefix = prefix.clone();
        move |req: Request| {
            let mut inner = inner.clone();
            let prefix = prefix.clone();
            async move {
                let (mut parts, body) = req.into_parts();
                let full = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                let rest = full.get(prefix.len()..).unwrap_or("/");
                parts.uri = rest
                    .parse()
                    .unwrap_or_else(|_| axum::http::Uri::from_static("/"));
                let res =
                    tower_service::Service::call(&mut inner, Request::from_parts(parts, body));
                match res.await {
                    Ok(r) => r,
                    Err(never) => match never {},
                }
            }
        }
    };
    let to = format!("{prefix}/");
    Router::new()
        .route(
            &prefix,
            get(move || async move { axum::response::Redirect::permanent(&to) }),
        )
        .route(&format!("{prefix}/"), axum::routing::any(strip.clone()))
        .route(&format!("{prefix}/{{*rest}}"), axum::routing::any(strip))
}

fn router_with(
    source: Source,
    options: &ServeOptions,
    loopback: bool,
    events_stopped: tokio::sync::watch::Receiver<bool>,
    events_stop: Option<crate::events::Stop>,
) -> Router {
    let events = crate::events::router(source.clone(), events_stopped);
    let app = Arc::new(App {
        source,
        current: Mutex::new(None),
        refresh: tokio::sync::Mutex::new(()),
        token: options.token.clone(),
        check_host: loopback,
        _events_stop: events_stop,
    });
    // Encode the report as it is now in the background, so the first page load does not wait
    // for it (a saved report of a month: ~0.3 s); later versions are encoded on demand.
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let app = app.clone();
        runtime.spawn(async move {
            let _ = app.encoded(|s| &s.json, encode_json).await;
        });
    }
    Router::new()
        .route("/api/report", get(api_report))
        .route("/metrics", get(metrics))
        .fallback(static_file)
        .with_state(app.clone())
        .merge(events)
        .layer(middleware::from_fn_with_state(app, guard))
}

/// Binds `addr`, for [`serve`]. Port 0 picks a free port; read it from `local_addr`.
///
/// # Errors
/// The bind error (address in use, permission denied, …).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `source` on `listener` with [`ServeOptions::default`] until `shutdown` completes.
///
/// # Errors
/// An I/O error of the listener.
pub async fn serve(
    listener: TcpListener,
    source: Source,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, source, ServeOptions::default(), shutdown).await
}

/// Serves `source` on `listener` until `shutdown` completes; then stops accepting, lets
/// requests in flight finish (at most 5 s) and returns.
///
/// # Errors
/// An I/O error of the listener, or [`std::io::ErrorKind::PermissionDenied`] when the
/// listener is beyond loopback without a valid token (see [`check_exposure`]).
pub async fn serve_with(
    listener: TcpListener,
    source: Source,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    check_exposure(local, options.token.as_deref())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::PermissionDenied, e))?;
    // `/api/events` streams end when the server shuts down.
    let (events_stop, events_stopped) = crate::events::stop_switch();
    let app = router_with(
        source,
        &options,
        local.ip().is_loopback(),
        events_stopped,
        None,
    );
    let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(());
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: wait a little
                    // instead of spinning, and go on.
                    tracing::debug!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        connections.spawn(connection(
            stream,
            app.clone(),
            options.clone(),
            stop_rx.clone(),
            permit,
        ));
    }
    drop(listener);
    events_stop.stop();
    drop(stop_tx);
    let drain = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
    connections.shutdown().await;
    Ok(())
}

/// Bytes moved on a connection and requests being handled on it.
#[derive(Debug, Default)]
struct Activity {
    moved: AtomicU64,
    busy: AtomicUsize,
}

/// A stream that counts its progress into an [`Activity`].
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            self.activity.moved.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            self.activity.moved.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r {
            self.activity.moved.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Counts a request as being handled while alive.
struct Busy(Arc<Activity>);

impl Busy {
    fn new(a: &Arc<Activity>) -> Busy {
        a.busy.fetch_add(1, Ordering::Relaxed);
        Busy(a.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn connection(
    stream: TcpStream,
    app: Router,
    options: ServeOptions,
    mut stop: watch::Receiver<()>,
    _slot: tokio::sync::OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::default());
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    let in_service = activity.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let busy = Busy::new(&in_service);
        let mut app = app.clone();
        async move {
            let _busy = busy;
            tower_service::Service::call(&mut app, req.map(Body::new)).await
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout)
        .max_buf_size(options.max_header_bytes.max(8192));
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut ticks = tokio::time::interval(options.idle_timeout);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    let mut seen = activity.moved.load(Ordering::Relaxed);
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = stop.changed() => {
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(Duration::from_secs(5), conn.as_mut()).await;
                return;
            }
            _ = ticks.tick() => {
                let moved = activity.moved.load(Ordering::Relaxed);
                if moved == seen && activity.busy.load(Ordering::Relaxed) == 0 {
                    // Nothing moved for a whole idle period: drop (close) the connection.
                    return;
                }
                seen = moved;
            }
        }
    }
}

/// Host, token, method and the security headers, for every route.
async fn guard(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let mut res = if let Some(refusal) = check(&app, &req) {
        refusal
    } else if let Some(login) = login_token(&app, &req) {
        login
    } else {
        next.run(req).await
    };
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

fn plain(status: StatusCode, text: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

/// A refusal, if the request may not go on.
fn check(app: &App, req: &Request) -> Option<Response> {
    // A missing Host (HTTP/1.0) is let through: DNS rebinding always sends the page's name.
    if app.check_host
        && let Some(host) = req.headers().get(header::HOST)
        && !host.to_str().is_ok_and(is_loopback_host)
    {
        return Some(plain(
            StatusCode::MISDIRECTED_REQUEST,
            String::from(
                "this server answers only to localhost, 127.0.0.1 or [::1] \
                 (a page on another name must not read it)\n",
            ),
        ));
    }
    if let Some(token) = &app.token {
        let given = bearer(req).or_else(|| cookie(req));
        let ok = given.is_some_and(|g| same(g.as_bytes(), token.as_bytes()));
        if !ok && login_token(app, req).is_none() {
            let mut res = plain(
                StatusCode::UNAUTHORIZED,
                String::from(
                    "a token is required: send `Authorization: Bearer <token>` \
                     (a browser: open /?token=<token> once)\n",
                ),
            );
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"perfopt\""),
            );
            return Some(res);
        }
    }
    None
}

/// `GET /?token=<token>` with the right token: a cookie and a redirect to `/`.
fn login_token(app: &App, req: &Request) -> Option<Response> {
    let token = app.token.as_ref()?;
    if req.uri().path() != "/" {
        return None;
    }
    let given = req
        .uri()
        .query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))?;
    if !same(given.as_bytes(), token.as_bytes()) {
        return None;
    }
    let cookie = format!("{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::SEE_OTHER;
    res.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/"));
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    Some(res)
}

fn bearer(req: &Request) -> Option<&str> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

fn cookie(req: &Request) -> Option<&str> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(TOKEN_COOKIE)?.strip_prefix('='))
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, port)) if port.is_empty() || port.starts_with(':') => ip,
            _ => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn unavailable() -> Response {
    plain(
        StatusCode::SERVICE_UNAVAILABLE,
        String::from("the report could not be read; try again\n"),
    )
}

/// `GET /api/report`: the report as JSON. With `?overview`, a smaller first payload for the
/// viewer to draw while the whole report loads: the series replaced by the per-step means of
/// the finest rollup tier of at most [`OVERVIEW_ROWS`] rows, no rollups
/// ([`Report::overview`]), marked by the header `x-perfopt-overview: 1`; the whole report,
/// unmarked, when it has no smaller form.
async fn api_report(State(app): State<Arc<App>>, uri: axum::http::Uri) -> Response {
    let wants_overview = uri.query().is_some_and(|q| {
        q.split('&')
            .any(|kv| kv == "overview" || kv == "overview=1")
    });
    let json = app
        .encoded(|s| &s.json, encode_json)
        .await
        .map(|j| match j.overview {
            Some(o) if wants_overview => (o, true),
            _ => (j.full, false),
        });
    match json {
        Some((json, overview)) => {
            let mut res = ([(header::CONTENT_TYPE, "application/json")], json).into_response();
            if overview {
                res.headers_mut()
                    .insert(OVERVIEW_HEADER, HeaderValue::from_static("1"));
            }
            res
        }
        None => unavailable(),
    }
}

/// Marks an overview response of `/api/report?overview`.
pub const OVERVIEW_HEADER: &str = "x-perfopt-overview";

async fn metrics(State(app): State<Arc<App>>) -> Response {
    match app.encoded(|s| &s.metrics, encode_metrics).await {
        Some(text) => ([(header::CONTENT_TYPE, prometheus::CONTENT_TYPE)], text).into_response(),
        None => unavailable(),
    }
}

async fn static_file(method: Method, uri: axum::http::Uri) -> Response {
    match viewer::asset(uri.path()) {
        Some(a) if method == Method::GET || method == Method::HEAD => {
            ([(header::CONTENT_TYPE, a.content_type)], a.bytes).into_response()
        }
        Some(_) => {
            let mut res = plain(
                StatusCode::METHOD_NOT_ALLOWED,
                String::from("only GET and HEAD\n"),
            );
            res.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET,HEAD"));
            res
        }
        None => plain(StatusCode::NOT_FOUND, String::from("not found\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for ok in [
            "localhost",
            "localhost:8080",
            "LOCALHOST:1",
            "127.0.0.1",
            "127.0.0.1:80",
            "127.1.2.3:9",
            "[::1]",
            "[::1]:8080",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "10.0.0.1:80",
            "0.0.0.0:8080",
            "[::2]:80",
            "[::1]x",
            "",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn exposure_needs_a_good_token_beyond_loopback() {
        let lo: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let good = "0123456789abcdef-_";
        assert_eq!(check_exposure(lo, None), Ok(None));
        let e = check_exposure(any, None).unwrap_err();
        assert!(e.contains("--token") && e.contains(TOKEN_ENV), "{e}");
        let w = check_exposure(any, Some(good)).unwrap().unwrap();
        assert!(w.starts_with("warning:"), "{w}");
        assert!(
            check_exposure(any, Some("short"))
                .unwrap_err()
                .contains("too short")
        );
        assert!(
            check_exposure(lo, Some("0123456789abcdef;x"))
                .unwrap_err()
                .contains("may only contain")
        );
    }

    #[test]
    fn token_comparison() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }
}
