//! A minimal W3C WebDriver client over plain HTTP/1.1, enough to drive headless Chromium
//! through chromedriver: start a session, open a URL, run scripts, upload a file, quit.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{KillOnDrop, free_port};

/// The Chromium flags this machine needs (root, no GPU, no network besides loopback).
pub const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--window-size=1280,1800",
];

/// One HTTP/1.1 request with `Connection: close`: (status, headers, body).
///
/// # Panics
/// On connection errors or a malformed response (this is test support).
pub fn http(method: &str, url: &str, body: Option<&Value>) -> (u16, Vec<(String, String)>, String) {
    let rest = url.strip_prefix("http://").expect("http:// URL");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream =
        TcpStream::connect(authority).unwrap_or_else(|e| panic!("connect {authority}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let payload = body.map(Value::to_string).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    if body.is_some() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!(
        "Content-Length: {}\r\n\r\n{payload}",
        payload.len()
    ));
    stream.write_all(req.as_bytes()).expect("send request");
    // chromedriver keeps the connection open despite `Connection: close`: read by length.
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let split = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut buf).expect("read response headers");
        assert!(n > 0, "connection closed before the end of the headers");
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let length: Option<usize> = header("content-length").and_then(|v| v.parse().ok());
    let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
    loop {
        let done = match length {
            Some(len) => body.len() >= len,
            None if chunked => body.ends_with(b"0\r\n\r\n"),
            None => false,
        };
        if done {
            break;
        }
        let n = stream.read(&mut buf).expect("read response body");
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    if chunked {
        body = dechunk(&body);
    }
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size_hex = String::from_utf8_lossy(&data[..eol]);
        let size = usize::from_str_radix(size_hex.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

/// chromedriver plus one Chromium session; both end on drop.
#[derive(Debug)]
pub struct Browser {
    base: String,
    session: String,
    _driver: KillOnDrop,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a headless Chromium session.
    ///
    /// # Panics
    /// If chromedriver or Chromium is missing (the test script installs both) or does not
    /// start within 30 s.
    pub fn start() -> Browser {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("Chromium is not installed: run scripts/test.sh (it installs chromium and chromium-driver)");
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "chromedriver is not on PATH: run scripts/test.sh (it installs chromium-driver)",
            );
        let driver = KillOnDrop(driver);
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                let (status, _, body) = http("GET", &format!("{base}/status"), None);
                if status == 200 && body.contains("\"ready\":true") {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready in 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let user_data = std::env::temp_dir().join(format!("perfopt-chromium-{port}"));
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", user_data.display()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args}
        }}});
        let (status, _, body) = http("POST", &format!("{base}/session"), Some(&caps));
        let v: Value = serde_json::from_str(&body).expect("session JSON");
        assert_eq!(status, 200, "new session failed: {body}");
        let session = v["value"]["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_string();
        Browser {
            base,
            session,
            _driver: driver,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let (status, _, text) = http(method, &url, body);
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_eq!(status, 200, "{method} {path} failed: {text}");
        v["value"].clone()
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(&json!({ "url": url })));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its result.
    pub fn execute(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(&json!({ "script": script, "args": args })),
        )
    }

    /// Polls `script` every 100 ms until it returns a truthy value, for at most `timeout`.
    ///
    /// # Panics
    /// On timeout, with the last value seen.
    pub fn wait_for(&self, script: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.execute(script, json!([]));
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!("") && v != json!(0);
            if truthy {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for `{script}` (last: {v})"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sets a file on the `<input type=file>` matching `css`, as a user picking it would.
    pub fn upload(&self, css: &str, file: &Path) {
        let el = self.call(
            "POST",
            "/element",
            Some(&json!({"using": "css selector", "value": css})),
        );
        let id = el
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .expect("element id")
            .to_string();
        let path = file.to_string_lossy();
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            Some(&json!({ "text": path })),
        );
    }

    /// Saves a PNG screenshot of the page.
    pub fn screenshot(&self, to: &Path) {
        let v = self.call("GET", "/screenshot", None);
        let b64 = v.as_str().unwrap_or_default();
        std::fs::write(to, base64_decode(b64)).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = std::panic::catch_unwind(|| http("DELETE", &url, None));
    }
}

/// `(metric, stat, text)` of every number the viewer marks up with `data-metric` and
/// `data-stat`.
pub fn numbers_on_page(browser: &Browser) -> Vec<(String, String, String)> {
    let v = browser.execute(
        "return Array.from(document.querySelectorAll('[data-metric][data-stat]'))
            .map(e => [e.dataset.metric, e.dataset.stat, e.textContent.trim()]);",
        json!([]),
    );
    v.as_array()
        .expect("array")
        .iter()
        .map(|t| {
            let s = |i: usize| t[i].as_str().unwrap_or_default().to_string();
            (s(0), s(1), s(2))
        })
        .collect()
}

/// What the viewer must show for `summaries.<metric>.<stat>` of `report` (JSON): core's
/// `format_value` in the summary's unit (a rate is per second whatever the unit).
///
/// # Panics
/// If the report lacks that summary or stat.
pub fn expected(report: &Value, metric: &str, stat: &str) -> String {
    use perfopt_core::report::metrics::{Unit, format_value};
    let summary = &report["summaries"][metric];
    let unit: Unit = if stat == "rate_per_s" {
        Unit::PerSec
    } else {
        serde_json::from_value(summary["unit"].clone()).expect("unit")
    };
    let value = summary[stat]
        .as_f64()
        .unwrap_or_else(|| panic!("summaries.{metric}.{stat} missing"));
    format_value(value, unit)
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in s.bytes().filter_map(val) {
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
