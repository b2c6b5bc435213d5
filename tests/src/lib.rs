//! Support for perfopt's end-to-end tests: finding the built `perfopt` binary, scratch
//! folders, child processes that are always cleaned up, and a minimal WebDriver client for
//! driving headless Chromium through chromedriver.
//!
//! Every server binds 127.0.0.1; every wait is bounded in time.

pub mod belady;
pub mod cache_replay;
pub mod sim;
pub mod traces;
pub mod webdriver;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The `perfopt` binary of this build (`target/<profile>/perfopt`).
///
/// # Panics
/// If it has not been built: run the tests with `cargo test --workspace`, which builds it.
pub fn perfopt_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/perfopt
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let bin = profile_dir.join(format!("perfopt{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (it builds the binary)",
        bin.display()
    );
    bin
}

/// A scratch folder removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new, empty folder under the system temp folder.
    pub fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "perfopt-test-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed on drop.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Starts `perfopt serve FILE --addr 127.0.0.1:0` and returns it with its base URL
/// (read from its first line of output, within 20 s).
///
/// # Panics
/// If it does not announce its address in time.
pub fn start_serve(report: &Path) -> (KillOnDrop, String) {
    let child = Command::new(perfopt_bin())
        .args(["serve", "--addr", "127.0.0.1:0"])
        .arg(report)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn perfopt serve");
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(i) = line.find("http://") {
                let url = line[i..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_string();
                let _ = tx.send(url);
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("perfopt serve printed its URL within 20 s");
    (child, url)
}

/// A minimal blocking HTTP/1.1 GET on loopback: (status, content-type, body).
///
/// # Panics
/// On I/O errors or a malformed response.
pub fn http_get(url: &str) -> (u16, String, String) {
    let (status, headers, body) = webdriver::http("GET", url, None);
    let ct = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    (status, ct, body)
}
