//! `/api/events` (server-sent events) of a running `perfopt monitor --serve`: the deltas
//! rebuild the live report exactly, a reader that reconnects with `Last-Event-ID` catches up
//! without a gap, and an open stream does not keep the server from shutting down.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use perfopt_core::report::Report;
use perfopt_core::report::delta::{Cursor, Delta, apply};
use perfopt_tests::{KillOnDrop, TempDir, http_get, perfopt_bin};

/// One SSE event: (event, id, data).
type SseEvent = (String, String, String);

struct Stream {
    reader: BufReader<TcpStream>,
}

impl Stream {
    fn open(url: &str, query: &str, last_event_id: Option<&str>) -> Stream {
        let authority = url.trim_start_matches("http://").trim_end_matches('/');
        let mut s = TcpStream::connect(authority).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut req = format!(
            "GET /api/events{query} HTTP/1.1\r\nHost: {authority}\r\nAccept: text/event-stream\r\n"
        );
        if let Some(id) = last_event_id {
            req.push_str(&format!("Last-Event-ID: {id}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        let mut reader = BufReader::new(s);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.contains(" 200 "), "{status}");
        let mut content_type = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.to_ascii_lowercase().starts_with("content-type:") {
                content_type = line.clone();
            }
            if line == "\r\n" {
                break;
            }
        }
        assert!(content_type.contains("text/event-stream"), "{content_type}");
        Stream { reader }
    }

    /// The next event (chunked transfer framing is skipped: SSE lines never look like it
    /// here because every data line starts with a field name).
    fn next(&mut self) -> SseEvent {
        let (mut event, mut id, mut data) = (String::new(), String::new(), String::new());
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).unwrap();
            assert!(n > 0, "stream ended");
            let line = line.trim_end_matches(['\r', '\n']);
            if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            } else if line.is_empty() && !event.is_empty() {
                return (event, id, data);
            }
        }
    }

    fn next_delta(&mut self) -> (String, Delta) {
        loop {
            let (event, id, data) = self.next();
            if event == "delta" {
                return (id, serde_json::from_str(&data).expect("a delta"));
            }
        }
    }
}

#[test]
fn deltas_rebuild_the_live_report_and_reconnects_catch_up() {
    let dir = TempDir::new("events");
    let out = dir.path().join("r.json");
    let child = Command::new(perfopt_bin())
        .args([
            "monitor",
            "--interval",
            "250ms",
            "--duration",
            "6s",
            "--serve",
            "127.0.0.1:0",
            "--out",
        ])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first[first.find("http://").unwrap()..].trim().to_string();

    let (_, _, body) = http_get(&format!("{url}api/report"));
    let mut reader = Report::from_json(&body).unwrap();
    let from = Cursor::of(&reader).to_id();
    let mut stream = Stream::open(&url, &format!("?from={from}"), None);
    assert_eq!(stream.next().0, "hello");
    let mut last_id = String::new();
    for _ in 0..4 {
        let (id, delta) = stream.next_delta();
        assert!(
            !delta.t_ms.is_empty() || !delta.alerts.is_empty(),
            "only news is sent"
        );
        apply(&mut reader, &delta).expect("each delta starts where the last ended");
        assert_eq!(id, Cursor::of(&reader).to_id());
        last_id = id;
    }
    drop(stream);
    // Away for a while, then back with the last id: one delta brings every missed sample.
    std::thread::sleep(Duration::from_millis(1200));
    let mut stream = Stream::open(&url, "", Some(&last_id));
    assert_eq!(stream.next().0, "hello");
    let (_, delta) = stream.next_delta();
    assert!(
        delta.t_ms.len() >= 3,
        "caught up {} samples at once",
        delta.t_ms.len()
    );
    apply(&mut reader, &delta).expect("no gap after the reconnect");

    // Follow to the end of the run: the page's copy equals the final report.
    let deadline = Instant::now() + Duration::from_secs(30);
    let fin = loop {
        assert!(Instant::now() < deadline, "run did not end");
        let line = lines.next().unwrap().unwrap();
        if line.contains("still serving") {
            break perfopt::report_file::load(&out).unwrap();
        }
    };
    // The last sample may arrive before the run's end is stamped: the end comes as one more
    // delta (no sample, a later `ended_at`, the summaries as of the end).
    while Cursor::of(&reader) != Cursor::of(&fin) || reader.meta.ended_at != fin.meta.ended_at {
        let (_, delta) = stream.next_delta();
        apply(&mut reader, &delta).unwrap();
    }
    assert_eq!(reader.series, fin.series);
    assert_eq!(reader.alerts, fin.alerts);
    assert_eq!(reader.summaries, fin.summaries);

    // SIGTERM with a stream still open: the server ends promptly anyway.
    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let t = Instant::now();
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "an open event stream blocked the shutdown"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(stream);
}
