//! The demo's chat server over real TCP on loopback: the protocol, bad input, and cleanup
//! of clients that vanish mid-message.

use std::sync::Arc;
use std::time::Duration;

use perfopt::demo::server::Chat;
use perfopt::demo::{Backend, DemoConfig, db};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

struct Client {
    lines: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    write: OwnedWriteHalf,
}

impl Client {
    async fn connect(addr: std::net::SocketAddr) -> Client {
        let (r, w) = TcpStream::connect(addr).await.unwrap().into_split();
        Client {
            lines: BufReader::new(r).lines(),
            write: w,
        }
    }
    async fn send(&mut self, line: &str) {
        self.write.write_all(line.as_bytes()).await.unwrap();
    }
    async fn recv(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(5), self.lines.next_line())
            .await
            .expect("a reply within 5 s")
            .unwrap()
            .expect("connection open")
    }
}

async fn start(name: &str, users: u32) -> (Arc<Chat>, std::net::SocketAddr, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("perfopt-chat-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("users.db");
    db::create(&path, users).unwrap();
    let config = DemoConfig {
        users,
        cache_size: 16,
        ..DemoConfig::default()
    };
    let backend = Arc::new(Backend::new(&config, &path).unwrap());
    let chat = Chat::new(backend);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(chat.clone().serve(listener));
    (chat, addr, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_broadcast_and_mentions_resolve_through_the_cache() {
    let (chat, addr, dir) = start("rooms", 100).await;
    let mut a = Client::connect(addr).await;
    let mut b = Client::connect(addr).await;
    a.send("HELLO 7\nJOIN lobby\n").await;
    assert_eq!(a.recv().await, "WELCOME 7 user00007");
    assert_eq!(a.recv().await, "JOINED lobby 1");
    b.send("HELLO 8\nJOIN lobby\n").await;
    assert_eq!(b.recv().await, "WELCOME 8 user00008");
    assert_eq!(b.recv().await, "JOINED lobby 2");
    a.send("SAY lobby 42 hi @8 and @99\n").await;
    let expected = "MSG lobby 7 42 hi @user00008 and @user00099";
    assert_eq!(a.recv().await, expected);
    assert_eq!(b.recv().await, expected);
    b.send("PING x\nLEAVE lobby\n").await;
    assert_eq!(b.recv().await, "PONG x");
    assert_eq!(b.recv().await, "LEFT lobby");
    assert_eq!(chat.members("lobby"), 1);
    a.send("QUIT\n").await;
    assert_eq!(a.recv().await, "BYE");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_lines_get_an_error_and_the_server_stays_up() {
    let (_chat, addr, dir) = start("malformed", 10).await;
    let mut c = Client::connect(addr).await;
    let cases = [
        ("DANCE\n", "ERR unknown-command"),
        ("JOIN lobby\n", "ERR not-logged-in"),
        ("HELLO bob\n", "ERR bad-argument"),
        ("HELLO 999\n", "ERR bad-user"),
        ("HELLO 1\n", "WELCOME 1"),
        ("SAY lobby 1 hi\n", "ERR not-joined"),
        ("JOIN Bad!Room\n", "ERR bad-argument"),
        ("\u{fffd}\u{0}garbage\n", "ERR unknown-command"),
    ];
    for (line, reply) in cases {
        c.send(line).await;
        let got = c.recv().await;
        assert!(got.starts_with(reply), "{line:?} -> {got:?}");
    }
    // A line far over the limit is refused without being buffered, and the next line works.
    let long = format!("SAY lobby 1 {}\nPING after\n", "x".repeat(100_000));
    c.send(&long).await;
    assert!(c.recv().await.starts_with("ERR too-long"));
    assert_eq!(c.recv().await, "PONG after");
    // Another client is served as usual.
    let mut d = Client::connect(addr).await;
    d.send("HELLO 2\n").await;
    assert_eq!(d.recv().await, "WELCOME 2 user00002");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_vanishes_mid_message_is_cleaned_up() {
    let (chat, addr, dir) = start("vanish", 10).await;
    for i in 1..=5 {
        let mut c = Client::connect(addr).await;
        c.send(&format!("HELLO {i}\nJOIN gone\n")).await;
        c.recv().await;
        c.recv().await;
        // Half a message, then the connection drops.
        c.send("SAY gone 1 half a mess").await;
        drop(c);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while chat.members("gone") > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "members left behind: {}",
            chat.members("gone")
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut c = Client::connect(addr).await;
    c.send("HELLO 1\nJOIN gone\n").await;
    c.recv().await;
    assert_eq!(c.recv().await, "JOINED gone 1");
    std::fs::remove_dir_all(dir).unwrap();
}
