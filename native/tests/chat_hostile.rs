//! The demo's chat server against hostile clients (issue 11): a client that never reads
//! cannot hold a limiter permit, one connection cannot join unlimited rooms, and the demo's
//! temporary folder cannot be prepared in advance by someone else.

use std::sync::Arc;
use std::time::Duration;

use perfopt::demo::server::{Chat, MAX_ROOMS_PER_CONNECTION};
use perfopt::demo::{Backend, Demo, DemoConfig, LimiterKind, db};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

async fn start(name: &str, users: u32) -> (Arc<Chat>, Arc<Backend>, std::net::SocketAddr) {
    let dir = perfopt::report_file::private_temp_dir(&format!("perfopt-hostile-{name}")).unwrap();
    let path = dir.join("users.db");
    db::create(&path, users).unwrap();
    let config = DemoConfig {
        users,
        cache_size: 16,
        limiter: LimiterKind::Fixed,
        ..DemoConfig::default()
    };
    let backend = Arc::new(Backend::new(&config, &path).unwrap());
    let chat = Chat::new(backend.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(chat.clone().serve(listener));
    (chat, backend, addr)
}

/// Sends a line and reads one reply line, within 5 s.
async fn ask(
    lines: &mut tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>,
    w: &mut tokio::net::tcp::OwnedWriteHalf,
    line: &str,
) -> String {
    w.write_all(line.as_bytes()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), lines.next_line())
        .await
        .expect("a reply within 5 s")
        .unwrap()
        .expect("connection open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_holds_no_limiter_permit() {
    let (chat, backend, addr) = start("reader", 100).await;
    // A tiny receive buffer so the server's side fills up quickly.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stalled = socket.connect(addr).await.unwrap();
    let (_r, mut w) = stalled.into_split();
    w.write_all(b"HELLO 1\n").await.unwrap();
    // Flood PINGs with long replies and never read: the server's outbox and socket fill, and
    // it stops reading from us. Stop writing once a write has made no progress for 1 s.
    let ping = format!("PING {}\n", "x".repeat(1000));
    let mut sent = 0usize;
    loop {
        match tokio::time::timeout(Duration::from_secs(1), w.write_all(ping.as_bytes())).await {
            Ok(Ok(())) => sent += 1,
            Ok(Err(e)) => panic!("write failed: {e}"),
            Err(_) => break,
        }
        assert!(sent < 200_000, "the server never stopped reading");
    }
    // Let the server settle: its connection task is now stuck sending to us.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        backend.limiter().in_flight(),
        0,
        "the stalled client holds a permit ({sent} pings sent)"
    );
    // Others are served normally, many times over the limiter's limit.
    for i in 0..3u32 {
        let (r, mut w) = TcpStream::connect(addr).await.unwrap().into_split();
        let mut lines = BufReader::new(r).lines();
        assert_eq!(
            ask(&mut lines, &mut w, &format!("HELLO {}\n", i + 2)).await,
            format!("WELCOME {} user{:05}", i + 2, i + 2)
        );
        assert_eq!(ask(&mut lines, &mut w, "PING ok\n").await, "PONG ok");
    }
    assert!(
        chat.stats
            .commands
            .load(std::sync::atomic::Ordering::Relaxed)
            > 10
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_cannot_join_unlimited_rooms() {
    let (chat, _backend, addr) = start("rooms", 10).await;
    let (r, mut w) = TcpStream::connect(addr).await.unwrap().into_split();
    let mut lines = BufReader::new(r).lines();
    assert_eq!(
        ask(&mut lines, &mut w, "HELLO 3\n").await,
        "WELCOME 3 user00003"
    );
    for i in 0..MAX_ROOMS_PER_CONNECTION {
        let reply = ask(&mut lines, &mut w, &format!("JOIN room{i}\n")).await;
        assert_eq!(reply, format!("JOINED room{i} 1"));
    }
    let reply = ask(&mut lines, &mut w, "JOIN one-too-many\n").await;
    assert!(reply.starts_with("ERR too-many-rooms "), "{reply}");
    assert_eq!(chat.members("one-too-many"), 0);
    // Joining a room it is already in is not a new room; leaving one frees a place.
    assert_eq!(
        ask(&mut lines, &mut w, "JOIN room0\n").await,
        "JOINED room0 1"
    );
    assert_eq!(ask(&mut lines, &mut w, "LEAVE room0\n").await, "LEFT room0");
    assert_eq!(
        ask(&mut lines, &mut w, "JOIN one-too-many\n").await,
        "JOINED one-too-many 1"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_never_uses_a_temp_folder_prepared_by_someone_else() {
    // The old name was `perfopt-demo-<pid>`: plant a symlink there to a folder "we" control.
    let planted = std::env::temp_dir().join(format!("perfopt-demo-{}", std::process::id()));
    let theirs = perfopt::report_file::private_temp_dir("perfopt-attacker").unwrap();
    let _ = std::fs::remove_file(&planted);
    std::os::unix::fs::symlink(&theirs, &planted).unwrap();
    let demo = Demo::start(DemoConfig {
        clients: 1,
        users: 10,
        duration: Duration::from_secs(1),
        ..DemoConfig::default()
    })
    .unwrap();
    let in_theirs: Vec<_> = std::fs::read_dir(&theirs)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    drop(demo);
    // The old code removed the "temporary" folder on drop: whatever is left, clean it up.
    let _ = std::fs::remove_file(&planted);
    let _ = std::fs::remove_dir_all(&theirs);
    assert!(in_theirs.is_empty(), "the demo wrote into {in_theirs:?}");
}
