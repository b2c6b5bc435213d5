//! Faults and real backends of the native pool (issue 4, part 5): a TCP echo server on
//! loopback is stopped (`get` fails with a typed error naming the address within the wait
//! deadline) and restarted on the same port (the pool recovers within one health-check
//! interval); an unreachable address, a malformed one, and a SQLite pool against a real
//! temporary file (and an unopenable one); bad settings are typed errors.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use perfopt::pool::{
    Backoff, CreateError, GetError, ObjectManager, Pool, PoolConfig, SqliteManager, TcpManager,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// A tiny echo server; dropping it closes the listener and every connection.
struct EchoServer {
    tasks: JoinSet<()>,
}

impl EchoServer {
    async fn start(addr: SocketAddr) -> (EchoServer, SocketAddr) {
        let listener = TcpListener::bind(addr).await.expect("bind");
        let local = listener.local_addr().expect("addr");
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                connections.spawn(async move {
                    let mut buf = [0u8; 1024];
                    loop {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if stream.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
            // `connections` is dropped (aborting every echo task) when this task is aborted.
        });
        (EchoServer { tasks }, local)
    }

    async fn stop(mut self) {
        self.tasks.shutdown().await;
    }
}

async fn echo(pool: &Pool<TcpManager>, message: &[u8]) -> Result<Vec<u8>, String> {
    let mut conn = pool.get().await.map_err(|e| e.to_string())?;
    let mut reply = vec![0u8; message.len()];
    let io = async {
        conn.write_all(message).await?;
        conn.read_exact(&mut reply).await?;
        Ok::<_, std::io::Error>(())
    };
    if let Err(e) = io.await {
        conn.mark_broken();
        return Err(e.to_string());
    }
    Ok(reply)
}

const HEALTH_CHECK: Duration = Duration::from_millis(250);
const WAIT: Duration = Duration::from_millis(300);

fn tcp_config() -> PoolConfig {
    let mut config = PoolConfig::new(4);
    config.min_idle = 2;
    config.check_after_idle = Some(HEALTH_CHECK);
    let mut backoff = Backoff::default();
    backoff.initial = Duration::from_millis(20);
    backoff.max = Duration::from_millis(100);
    config.create_backoff = backoff;
    config.max_wait = Some(WAIT);
    config.create_timeout = Duration::from_millis(200);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_backend_stopped_then_restarted() {
    let (server, addr) = EchoServer::start("127.0.0.1:0".parse().expect("addr")).await;
    let pool = Pool::new(TcpManager::new(addr.to_string()), tcp_config()).expect("valid");
    assert_eq!(echo(&pool, b"ping").await.as_deref(), Ok(&b"ping"[..]));
    // min_idle connections are made in the background.
    for _ in 0..100 {
        if pool.idle() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(pool.idle() >= 2, "{:?}", pool.stats());

    // Stop the backend: every pooled connection is now closed by the peer.
    server.stop().await;
    tokio::time::sleep(HEALTH_CHECK + Duration::from_millis(50)).await;
    let started = Instant::now();
    let err = pool.get().await.expect_err("the backend is down");
    let waited = started.elapsed();
    let GetError::TimedOut {
        target, last_error, ..
    } = &err
    else {
        panic!("expected a timeout, got {err:?}");
    };
    assert_eq!(&**target, format!("tcp://{addr}"));
    assert!(
        matches!(last_error.as_deref(), Some(CreateError::Manager(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused),
        "{err}"
    );
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    assert!(waited < WAIT + Duration::from_millis(200), "{waited:?}");
    let stats = pool.stats();
    assert!(
        stats.check_failures >= 1,
        "dead connections were checked: {stats:?}"
    );
    assert_eq!(stats.in_use, 0);

    // Restart on the same port: the pool recovers within one health-check interval.
    let (server, _) = EchoServer::start(addr).await;
    let restarted = Instant::now();
    let reply = loop {
        match echo(&pool, b"back").await {
            Ok(reply) => break reply,
            Err(e) if restarted.elapsed() < Duration::from_secs(5) => {
                eprintln!("not yet: {e}");
            }
            Err(e) => panic!("no recovery: {e}"),
        }
    };
    let recovered = restarted.elapsed();
    assert_eq!(reply, b"back");
    eprintln!(
        "recovered {recovered:?} after the restart; {:?}",
        pool.stats()
    );
    assert!(recovered <= HEALTH_CHECK, "recovery took {recovered:?}");
    pool.validate();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_and_malformed_addresses_are_typed_errors() {
    // A port nobody listens on: refused on every attempt; the get ends at its deadline.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let pool = Pool::new(TcpManager::new(closed.to_string()), tcp_config()).expect("valid");
    let started = Instant::now();
    let err = pool.get().await.expect_err("nothing listens");
    assert!(started.elapsed() < WAIT + Duration::from_millis(200));
    assert!(
        matches!(
            err,
            GetError::TimedOut {
                last_error: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains(&format!("tcp://{closed}")), "{message}");
    assert!(message.contains("last attempt failed"), "{message}");

    // A malformed address will not get better: the waiter fails at once.
    let pool = Pool::new(TcpManager::new("not an address"), tcp_config()).expect("valid");
    let started = Instant::now();
    let err = pool.get().await.expect_err("malformed");
    assert!(started.elapsed() < WAIT, "failed fast");
    assert!(matches!(err, GetError::Create { .. }), "{err:?}");
    assert!(err.to_string().contains("tcp://not an address"), "{err}");
}

fn temp_path(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!("perfopt-{name}-{}-{nanos}.db", std::process::id()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_pool_against_a_real_file() {
    let path = temp_path("pool");
    let mut config = PoolConfig::new(3);
    config.check_after_idle = Some(Duration::from_millis(50));
    let manager = SqliteManager::new(&path).with_init(|conn| {
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;")
    });
    let pool = Pool::new(manager, config).expect("valid");
    assert_eq!(pool.target(), format!("sqlite:{}", path.display()));

    let conn = pool.get().await.expect("open");
    conn.interact(|c| {
        c.execute_batch("CREATE TABLE messages (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    })
    .await
    .expect("task")
    .expect("create table");
    // Several connections write at once, each on its own blocking thread.
    let writers: Vec<_> = (0..6)
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let conn = pool.get().await.expect("connection");
                conn.interact(move |c| {
                    c.execute("INSERT INTO messages (body) VALUES (?1)", [format!("m{i}")])
                })
                .await
                .expect("task")
                .expect("insert");
            })
        })
        .collect();
    drop(conn);
    for w in writers {
        w.await.expect("writer");
    }
    let conn = pool.get().await.expect("connection");
    let count: i64 = conn
        .interact(|c| c.query_row("SELECT count(*) FROM messages", [], |r| r.get(0)))
        .await
        .expect("task")
        .expect("count");
    assert_eq!(count, 6);
    drop(conn);
    // After idling past check_after_idle, a connection is checked (SELECT 1) before reuse.
    tokio::time::sleep(Duration::from_millis(80)).await;
    let conn = pool.get().await.expect("checked connection");
    drop(conn);
    let stats = pool.stats();
    assert!(stats.checks >= 1 && stats.check_failures == 0, "{stats:?}");
    assert!(stats.created <= 3, "{stats:?}");
    pool.validate();
    drop(pool);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unopenable_database_is_a_typed_error() {
    let missing_dir = std::env::temp_dir()
        .join(format!("perfopt-missing-{}", std::process::id()))
        .join("nested")
        .join("db.sqlite");
    let pool = Pool::new(SqliteManager::new(&missing_dir), PoolConfig::default()).expect("valid");
    let started = Instant::now();
    let err = pool.get().await.expect_err("unopenable");
    assert!(started.elapsed() < Duration::from_secs(1), "failed fast");
    assert!(matches!(err, GetError::Create { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&missing_dir.display().to_string()),
        "{message}"
    );
    assert!(message.contains("unable to open"), "{message}");

    // A file that is not a database.
    let garbage = temp_path("garbage");
    std::fs::write(&garbage, vec![0x5a; 4096]).expect("write");
    let pool = Pool::new(SqliteManager::new(&garbage), PoolConfig::default()).expect("valid");
    let err = pool.get().await.expect_err("not a database");
    assert!(matches!(err, GetError::Create { .. }), "{err:?}");
    assert!(err.to_string().contains("not a database"), "{err}");
    let _ = std::fs::remove_file(&garbage);
}

#[tokio::test(flavor = "current_thread")]
async fn bad_settings_are_typed_errors() {
    use perfopt_core::pool::PoolError;
    let objects = || ObjectManager::new(Vec::<u8>::new, Vec::clear);

    let err = Pool::new(objects(), PoolConfig::new(0)).unwrap_err();
    assert!(
        matches!(err, GetError::Config(PoolError::MaxSizeZero)),
        "{err:?}"
    );
    assert!(err.to_string().contains("max_size"), "{err}");

    let mut config = PoolConfig::new(2);
    config.min_idle = 3;
    let err = Pool::new(objects(), config).unwrap_err();
    assert!(err.to_string().contains("min_idle (3)"), "{err}");

    let mut config = PoolConfig::default();
    config.max_wait = Some(Duration::ZERO);
    let err = Pool::new(objects(), config).unwrap_err();
    assert!(
        matches!(err, GetError::Config(PoolError::ZeroDuration("max_wait"))),
        "{err:?}"
    );

    let mut config = PoolConfig::default();
    config.idle_timeout = Some(Duration::ZERO);
    let err = Pool::new(objects(), config).unwrap_err();
    assert!(err.to_string().contains("idle_timeout"), "{err}");

    let pool = Pool::new(objects(), PoolConfig::for_objects(1)).expect("valid");
    let err = pool.get_timeout(Duration::ZERO).await.unwrap_err();
    assert!(
        matches!(err, GetError::Config(PoolError::ZeroDuration("timeout"))),
        "{err:?}"
    );
}

#[test]
fn building_outside_a_runtime_is_a_typed_error() {
    let err = Pool::new(TcpManager::new("127.0.0.1:1"), PoolConfig::default()).unwrap_err();
    assert!(matches!(err, GetError::NoRuntime), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_pool_reuses_and_bounds_buffers() {
    let mut config = PoolConfig::for_objects(2);
    config.max_wait = Some(Duration::from_millis(50));
    let pool = Pool::new(
        ObjectManager::new(|| Vec::<u8>::with_capacity(4096), Vec::clear),
        config,
    )
    .expect("valid");
    let mut a = pool.get().await.expect("a");
    let b = pool.get().await.expect("b");
    a.extend_from_slice(b"data");
    // Both objects are out: a third caller waits, then times out naming the pool.
    let err = pool.get().await.expect_err("bounded");
    assert!(
        err.to_string().contains("objects of alloc::vec::Vec<u8>"),
        "{err}"
    );
    drop(a);
    let again = pool.get().await.expect("reused");
    assert!(again.is_empty(), "reset on return");
    assert!(again.capacity() >= 4096);
    drop((again, b));
    let stats = pool.stats();
    assert_eq!(
        (stats.created, stats.in_use, stats.idle),
        (2, 0, 2),
        "{stats:?}"
    );
    assert!(stats.reused >= 1);
    pool.validate();
}
