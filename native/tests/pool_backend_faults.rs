//! The TCP pool against a backend that resets and stalls connections (issue 11; refusals and
//! restarts are in `pool_fault.rs`): typed errors within the deadlines, recovery afterwards.
//!
//! Loopback only; every wait is bounded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use perfopt::pool::{Backoff, CreateError, GetError, Pool, PoolConfig, TcpManager};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const ECHO: u8 = 0;
const RESET: u8 = 1;

/// Echoes, or (in `RESET` mode) answers every read with a TCP reset (SO_LINGER 0 + close).
async fn backend(mode: Arc<AtomicU8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mode = mode.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                loop {
                    let n = match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if mode.load(Ordering::SeqCst) == RESET {
                        let _ = s.set_zero_linger();
                        return; // dropped with linger 0: RST
                    }
                    if s.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn config(wait: Duration) -> PoolConfig {
    let mut config = PoolConfig::new(2);
    config.min_idle = 0;
    let mut backoff = Backoff::default();
    backoff.initial = Duration::from_millis(20);
    backoff.max = Duration::from_millis(100);
    config.create_backoff = backoff;
    config.max_wait = Some(wait);
    config.create_timeout = Duration::from_millis(300);
    config
}

async fn echo(pool: &Pool<TcpManager>, msg: &[u8]) -> Result<Vec<u8>, std::io::Error> {
    let mut conn = pool.get().await.map_err(std::io::Error::other)?;
    let mut reply = vec![0u8; msg.len()];
    let io = async {
        conn.write_all(msg).await?;
        conn.read_exact(&mut reply).await?;
        Ok::<_, std::io::Error>(())
    };
    match tokio::time::timeout(Duration::from_secs(2), io).await {
        Ok(Ok(())) => Ok(reply),
        Ok(Err(e)) => {
            conn.mark_broken();
            Err(e)
        }
        Err(_) => {
            conn.mark_broken();
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no reply in 2 s",
            ))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_are_typed_io_errors_and_the_pool_recovers() {
    let mode = Arc::new(AtomicU8::new(ECHO));
    let addr = backend(mode.clone()).await;
    let pool = Pool::new(
        TcpManager::new(addr.to_string()),
        config(Duration::from_secs(1)),
    )
    .unwrap();
    assert_eq!(echo(&pool, b"one").await.unwrap(), b"one");
    mode.store(RESET, Ordering::SeqCst);
    for _ in 0..3 {
        let e = echo(&pool, b"two").await.unwrap_err();
        assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::BrokenPipe
            ),
            "{e:?}"
        );
    }
    // Broken connections were dropped, not returned to the pool.
    assert_eq!(pool.stats().in_use, 0);
    mode.store(ECHO, Ordering::SeqCst);
    let started = Instant::now();
    assert_eq!(echo(&pool, b"three").await.unwrap(), b"three");
    assert!(started.elapsed() < Duration::from_secs(1));
    pool.validate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_backend_is_a_timeout_within_the_deadline_then_recovers() {
    // A listener with a backlog of one that never accepts: once the backlog is full, the
    // kernel drops new SYNs and connecting hangs (a stalled backend).
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let stalled = socket.listen(1).unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(addr)).await
        {
            fillers.push(s);
        }
    }
    let wait = Duration::from_millis(800);
    let pool = Pool::new(TcpManager::new(addr.to_string()), config(wait)).unwrap();
    let started = Instant::now();
    let err = pool.get().await.map(|_| ()).expect_err("nothing answers");
    let waited = started.elapsed();
    assert!(matches!(err, GetError::TimedOut { .. }), "{err:?}");
    assert!(waited < wait + Duration::from_millis(500), "{waited:?}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    if let GetError::TimedOut { last_error, .. } = &err {
        // Either the create timed out, or nothing had failed yet: never a hang.
        assert!(
            last_error.is_none()
                || matches!(
                    last_error.as_deref(),
                    Some(CreateError::TimedOut(_)) | Some(CreateError::Manager(_))
                ),
            "{err:?}"
        );
    }
    // The backend comes back (accepts again): the pool recovers.
    drop(fillers);
    drop(stalled);
    let listener = TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let back = Instant::now();
    let reply = loop {
        match echo(&pool, b"back").await {
            Ok(r) => break r,
            Err(_) if back.elapsed() < Duration::from_secs(5) => {}
            Err(e) => panic!("no recovery in 5 s: {e}"),
        }
    };
    assert_eq!(reply, b"back");
    pool.validate();
}
