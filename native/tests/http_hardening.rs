//! The HTTP server against hostile and careless clients (issue 11): half-sent requests and
//! clients that stop reading are dropped, the connection cap holds, the report is encoded
//! once per version off the async threads, the Host header and the token are checked, every
//! response carries the security headers, and only GET/HEAD on known routes are served.
//!
//! Every server binds 127.0.0.1:0; every wait is bounded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use perfopt::http::{self, ReportSource, SavedReport, ServeOptions};
use perfopt_core::Instant;
use perfopt_core::report::{Meta, Recorder, Report, Series, metrics};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// A report with `samples` samples of a few metrics (the series is built directly: the
/// recorder evaluates the rules at every sample, which is slow for big reports in debug builds).
fn report(samples: u64) -> Report {
    let meta = Meta {
        tool_version: "0.1.0".into(),
        host: "test".into(),
        target: None,
        started_at: 1_700_000_000_000,
        ended_at: 0,
        interval_ms: 1000,
    };
    let t0 = Instant::from_secs(1);
    let mut rec = Recorder::new(t0, meta, perfopt_core::rules::default_rules()).unwrap();
    rec.handle_sample(t0, [(metrics::SYS_CPU, 1.0)]);
    let mut report = rec.report(t0.saturating_add(Duration::from_secs(samples + 1)));
    let mut series = Series::new();
    for s in 0..samples {
        series.push(
            s * 1000 + 1,
            [
                (metrics::SYS_CPU, 10.0 + (s % 13) as f64 * 0.123_456_789),
                (metrics::SYS_MEM, 40.0 + (s % 7) as f64 * 0.987_654_321),
                (metrics::PROC_RSS, 1e8 + s as f64 * 12_345.678),
            ],
        );
    }
    report.series = series;
    report
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(source: Arc<dyn ReportSource>, options: ServeOptions) -> Server {
        let listener = http::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(http::serve_with(listener, source, options, async move {
            let _ = stopped.await;
        }));
        Server {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("the server stops within 10 s")
            .unwrap()
            .unwrap();
    }
}

fn saved(samples: u64) -> Arc<dyn ReportSource> {
    Arc::new(SavedReport(report(samples)))
}

/// One raw request (with `Connection: close` added unless `raw` is complete already) and its
/// whole response: (status, lower-case headers, body).
async fn send(addr: SocketAddr, raw: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(raw.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf))
        .await
        .expect("response within 20 s")
        .unwrap();
    parse(&buf)
}

fn parse(buf: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next().unwrap()[9..12].parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, buf[end + 4..].to_vec())
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Reads until EOF; returns the bytes read, or `None` if the peer kept it open past `limit`.
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    tokio::time::timeout(limit, s.read_to_end(&mut buf))
        .await
        .ok()
        .map(|r| {
            let _ = r;
            buf
        })
}

#[tokio::test]
async fn half_sent_requests_are_dropped_after_the_header_timeout() {
    let server = Server::start(
        saved(10),
        ServeOptions {
            header_timeout: Duration::from_millis(300),
            ..ServeOptions::default()
        },
    )
    .await;
    let mut clients = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(b"GET /api/report HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await
            .unwrap();
        clients.push(s);
    }
    for s in &mut clients {
        assert!(
            read_until_closed(s, Duration::from_secs(5)).await.is_some(),
            "a half-sent request was still open after 5 s"
        );
    }
    // An idle keep-alive connection is closed the same way after its first response.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let buf = read_until_closed(&mut s, Duration::from_secs(5))
        .await
        .expect("idle keep-alive connection closed");
    assert_eq!(parse(&buf).0, 200);
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped() {
    // About 15 MB of JSON: far more than the socket buffers hold.
    let source = saved(300_000);
    let server = Server::start(
        source,
        ServeOptions {
            idle_timeout: Duration::from_millis(300),
            ..ServeOptions::default()
        },
    )
    .await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(get("/api/report").as_bytes()).await.unwrap();
    // Read the head only, then stop reading for longer than two idle periods.
    let mut head = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut head))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&head[..n]).to_string();
    let length: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .expect("content-length")
        .trim()
        .parse()
        .unwrap();
    assert!(length > 10_000_000, "{length}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rest = read_until_closed(&mut s, Duration::from_secs(20))
        .await
        .expect("the connection ends");
    assert!(
        n + rest.len() < length,
        "the stalled response was sent whole ({} of {length} bytes)",
        n + rest.len()
    );
    // The server still answers others.
    let (status, _, _) = send(server.addr, &get("/metrics")).await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test]
async fn the_connection_cap_holds_and_frees_slots() {
    let server = Server::start(
        saved(10),
        ServeOptions {
            max_connections: 2,
            ..ServeOptions::default()
        },
    )
    .await;
    // Two connections hold both slots (they have not sent anything yet).
    let a = TcpStream::connect(server.addr).await.unwrap();
    let b = TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut c = TcpStream::connect(server.addr).await.unwrap();
    c.write_all(get("/metrics").as_bytes()).await.unwrap();
    assert!(
        read_until_closed(&mut c, Duration::from_millis(500))
            .await
            .is_none(),
        "a third connection was served while two held the cap"
    );
    drop(a);
    let buf = read_until_closed(&mut c, Duration::from_secs(10))
        .await
        .expect("served once a slot is free");
    assert_eq!(parse(&buf).0, 200);
    drop(b);
    server.stop().await;
}

/// Counts reads of the report; `version` is bumped by hand; each read takes a while.
struct Counting {
    report: Report,
    /// Reads of the whole report (`/api/report`).
    reads: AtomicU64,
    /// Reads of the latest figures (`/metrics`).
    latest_reads: AtomicU64,
    version: AtomicU64,
    delay: Duration,
}

impl ReportSource for Counting {
    fn report(&self) -> Report {
        self.reads.fetch_add(1, Ordering::SeqCst);
        // Blocking on purpose: the server must call this off its async threads.
        std::thread::sleep(self.delay);
        self.report.clone()
    }

    fn latest(&self) -> Report {
        self.latest_reads.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        self.report.clone()
    }

    fn version(&self) -> Option<u64> {
        Some(self.version.load(Ordering::SeqCst))
    }
}

#[tokio::test]
async fn the_report_is_read_and_encoded_once_per_version() {
    let source = Arc::new(Counting {
        report: report(500),
        reads: AtomicU64::new(0),
        latest_reads: AtomicU64::new(0),
        version: AtomicU64::new(1),
        delay: Duration::from_millis(50),
    });
    let server = Server::start(source.clone(), ServeOptions::default()).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let addr = server.addr;
        // The overview comes from the same read (this short report has none: it is the
        // whole report).
        let path = match i % 4 {
            0 => "/api/report",
            2 => "/api/report?overview",
            _ => "/metrics",
        };
        tasks.spawn(async move { send(addr, &get(path)).await });
    }
    let mut bodies = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let (status, headers, body) = r.unwrap();
        assert_eq!(status, 200);
        if header(&headers, "content-type") == Some("application/json") {
            bodies.push(body);
        }
    }
    assert_eq!(
        source.reads.load(Ordering::SeqCst),
        1,
        "one read of the report for 20 requests"
    );
    assert_eq!(
        source.latest_reads.load(Ordering::SeqCst),
        1,
        "one read of the latest figures for 20 scrapes"
    );
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    let parsed = Report::from_json(std::str::from_utf8(&bodies[0]).unwrap()).unwrap();
    assert_eq!(parsed, source.report);
    source.version.fetch_add(1, Ordering::SeqCst);
    for _ in 0..3 {
        assert_eq!(send(server.addr, &get("/api/report")).await.0, 200);
    }
    assert_eq!(
        source.reads.load(Ordering::SeqCst),
        2,
        "one more read per version"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_report_is_encoded_at_start_before_the_first_request() {
    let source = Arc::new(Counting {
        report: report(200),
        reads: AtomicU64::new(0),
        latest_reads: AtomicU64::new(0),
        version: AtomicU64::new(1),
        delay: Duration::from_millis(300),
    });
    let server = Server::start(source.clone(), ServeOptions::default()).await;
    // No request yet: the server reads (and encodes) the report by itself.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while source.reads.load(Ordering::SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline, "never read at start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, _, body) = send(server.addr, &get("/api/report")).await;
    assert_eq!(status, 200);
    assert_eq!(
        Report::from_json(std::str::from_utf8(&body).unwrap()).unwrap(),
        source.report
    );
    assert_eq!(
        source.reads.load(Ordering::SeqCst),
        1,
        "served from the start's encoding"
    );
    server.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn heavy_work_runs_off_the_async_thread() {
    // One async thread: if reading the report blocked it, `/` would wait a whole second.
    let source = Arc::new(Counting {
        report: report(10),
        reads: AtomicU64::new(0),
        latest_reads: AtomicU64::new(0),
        version: AtomicU64::new(1),
        delay: Duration::from_millis(1500),
    });
    let server = Server::start(source.clone(), ServeOptions::default()).await;
    let addr = server.addr;
    let slow = tokio::spawn(async move { send(addr, &get("/api/report")).await });
    while source.reads.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let fast = tokio::time::timeout(Duration::from_millis(1000), send(addr, &get("/")))
        .await
        .expect("the viewer page is served while the report is being read");
    assert_eq!(fast.0, 200);
    assert!(!slow.is_finished(), "the slow read was still going on");
    assert_eq!(slow.await.unwrap().0, 200);
    server.stop().await;
}

#[tokio::test]
async fn on_loopback_the_host_must_name_loopback() {
    let server = Server::start(saved(10), ServeOptions::default()).await;
    let port = server.addr.port();
    for host in [
        "evil.example".to_string(),
        format!("evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
    ] {
        let raw = format!("GET /api/report HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let (status, _, body) = send(server.addr, &raw).await;
        assert_eq!(status, 421, "{host}");
        assert!(!String::from_utf8_lossy(&body).contains("perfopt.report"));
    }
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "[::1]".to_string(),
    ] {
        let raw = format!("GET /api/report HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        assert_eq!(send(server.addr, &raw).await.0, 200, "{host}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_token_is_required_when_set() {
    let token = "s3cret-token-0123456789";
    let server = Server::start(
        saved(10),
        ServeOptions {
            token: Some(token.into()),
            ..ServeOptions::default()
        },
    )
    .await;
    let (status, headers, _) = send(server.addr, &get("/api/report")).await;
    assert_eq!(status, 401);
    assert!(
        header(&headers, "www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    let with = |auth: &str| {
        format!(
            "GET /api/report HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\nConnection: close\r\n\r\n"
        )
    };
    assert_eq!(
        send(
            server.addr,
            &with("Authorization: Bearer wrong-token-0123456789")
        )
        .await
        .0,
        401
    );
    assert_eq!(
        send(
            server.addr,
            &with(&format!("Authorization: Bearer {token}"))
        )
        .await
        .0,
        200
    );
    // A browser logs in once with ?token= and then carries the cookie.
    let (status, headers, _) = send(server.addr, &get(&format!("/?token={token}"))).await;
    assert_eq!(status, 303);
    let cookie = header(&headers, "set-cookie").unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let pair = cookie.split(';').next().unwrap();
    assert_eq!(
        send(server.addr, &with(&format!("Cookie: {pair}"))).await.0,
        200
    );
    assert_eq!(send(server.addr, &get("/?token=nope")).await.0, 401);
    server.stop().await;
}

#[tokio::test]
async fn every_response_has_the_security_headers_and_only_get_head_are_served() {
    let server = Server::start(saved(10), ServeOptions::default()).await;
    let cases = [
        ("GET", "/", 200),
        ("GET", "/api/report", 200),
        ("GET", "/metrics", 200),
        ("HEAD", "/api/report", 200),
        ("GET", "/nope", 404),
        ("POST", "/api/report", 405),
        ("PUT", "/metrics", 405),
        ("DELETE", "/", 405),
        ("POST", "/app.js", 405),
        ("OPTIONS", "/api/report", 405),
    ];
    for (method, path, want) in cases {
        let raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let (status, headers, body) = send(server.addr, &raw).await;
        assert_eq!(status, want, "{method} {path}");
        assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
        assert_eq!(header(&headers, "cache-control"), Some("no-store"));
        let csp = header(&headers, "content-security-policy").unwrap_or("");
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{method} {path}: {csp:?}"
        );
        if method == "HEAD" {
            assert!(body.is_empty());
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn serving_beyond_loopback_without_a_token_is_refused() {
    let e = http::check_exposure("0.0.0.0:8080".parse().unwrap(), None).unwrap_err();
    assert!(e.contains("refusing"), "{e}");
    let w = http::check_exposure("0.0.0.0:8080".parse().unwrap(), Some("0123456789abcdefgh"))
        .unwrap()
        .unwrap();
    assert!(w.contains("warning"), "{w}");
}
