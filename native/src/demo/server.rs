//! The demo's chat server: tokio TCP on loopback, rooms, broadcast, the line protocol of
//! [`super::protocol`]. Every command runs under the [`Backend`]'s limiter; user profiles
//! (for `HELLO` and for `@mentions` in messages) come from the backend's cache in front of
//! SQLite; handlers are profiled.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::Backend;
use super::protocol::{self, Command, MAX_LINE};

/// Lines a slow client may have queued before the server drops messages for it.
const OUTBOX: usize = 1024;

/// Rooms one connection may be in at once; one more `JOIN` is `ERR too-many-rooms`.
pub const MAX_ROOMS_PER_CONNECTION: usize = 32;

/// A connection's queue of lines to send, as seen by command handlers: it can only be offered
/// a line, never waited on. So a handler running under the limiter cannot block on a client
/// that does not read (the reply is sent after the permit is released).
#[derive(Clone, Debug)]
struct Outbox(mpsc::Sender<Arc<str>>);

impl Outbox {
    /// Queues `line` if there is room; false if the client is too far behind.
    fn offer(&self, line: Arc<str>) -> bool {
        self.0.try_send(line).is_ok()
    }
}

/// Counters of the server, for the demo summary.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Commands handled (any reply).
    pub commands: AtomicU64,
    /// `ERR` replies sent.
    pub errors: AtomicU64,
    /// Messages delivered to a member's outbox.
    pub delivered: AtomicU64,
    /// Messages dropped because a member's outbox was full.
    pub dropped: AtomicU64,
}

#[derive(Default)]
struct Rooms {
    members: HashMap<String, HashMap<u64, Outbox>>,
}

/// Shared state of the server.
pub struct Chat {
    rooms: Mutex<Rooms>,
    backend: Arc<Backend>,
    next_id: AtomicU64,
    /// Counters.
    pub stats: ServerStats,
}

impl std::fmt::Debug for Chat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chat").finish_non_exhaustive()
    }
}

impl Chat {
    /// A server using `backend`.
    pub fn new(backend: Arc<Backend>) -> Arc<Chat> {
        Arc::new(Chat {
            rooms: Mutex::new(Rooms::default()),
            backend,
            next_id: AtomicU64::new(1),
            stats: ServerStats::default(),
        })
    }

    /// Accepts connections until the listener fails or the task is aborted.
    pub async fn serve(self: Arc<Chat>, listener: TcpListener) {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            self.stats.connections.fetch_add(1, Ordering::Relaxed);
            let chat = self.clone();
            tokio::spawn(async move { chat.connection(stream).await });
        }
    }

    /// Members of `room` now.
    pub fn members(&self, room: &str) -> usize {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        rooms.members.get(room).map_or(0, HashMap::len)
    }

    async fn connection(self: Arc<Chat>, stream: TcpStream) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (read, mut write) = stream.into_split();
        let (tx, mut rx) = mpsc::channel::<Arc<str>>(OUTBOX);
        let writer = tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                if write.write_all(line.as_bytes()).await.is_err() {
                    break;
                }
            }
            let _ = write.shutdown().await;
        });
        let mut session = Session {
            id,
            user: None,
            joined: HashSet::new(),
            outbox: Outbox(tx.clone()),
        };
        let mut reader = BufReader::new(read);
        let mut buf = Vec::with_capacity(256);
        loop {
            buf.clear();
            match read_line(&mut reader, &mut buf).await {
                Ok(Line::Eof) => break,
                Ok(Line::TooLong) => {
                    self.reply_err(&tx, protocol::parse(&"x".repeat(MAX_LINE + 1)).unwrap_err())
                        .await;
                }
                Ok(Line::Complete) => {
                    let text = String::from_utf8_lossy(&buf);
                    let line = text.trim_end_matches(['\n', '\r']);
                    match protocol::parse(line) {
                        Ok(Command::Quit) => {
                            let _ = tx.send(Arc::from("BYE\n")).await;
                            break;
                        }
                        Ok(cmd) => {
                            // The reply is sent here, after the limiter's permit is released:
                            // waiting for a slow reader holds up only this connection.
                            if let Some(reply) = self.command(&mut session, cmd).await
                                && tx.send(reply).await.is_err()
                            {
                                break;
                            }
                        }
                        Err(e) => self.reply_err(&tx, e).await,
                    }
                }
                // A client that disconnects mid-message: clean up like an EOF.
                Err(_) => break,
            }
        }
        self.leave_all(&mut session);
        drop(session);
        drop(tx);
        let _ = writer.await;
    }

    async fn reply_err(&self, tx: &mpsc::Sender<Arc<str>>, e: protocol::ProtocolError) {
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        self.stats.commands.fetch_add(1, Ordering::Relaxed);
        let _ = tx.send(Arc::from(format!("{e}\n"))).await;
    }

    /// Runs `cmd` under the limiter and returns the line to send back, if any.
    async fn command(&self, session: &mut Session, cmd: Command) -> Option<Arc<str>> {
        self.stats.commands.fetch_add(1, Ordering::Relaxed);
        let backend = self.backend.clone();
        let reply = backend
            .limited(async { self.handle(session, cmd).await })
            .await
            .unwrap_or_else(Err);
        match reply {
            Ok(line) => line,
            Err(e) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                Some(Arc::from(format!("{e}\n")))
            }
        }
    }

    /// Handles one command; returns the reply line, if any. It cannot wait for any client:
    /// it only offers lines to outboxes.
    async fn handle(
        &self,
        session: &mut Session,
        cmd: Command,
    ) -> Result<Option<Arc<str>>, protocol::ProtocolError> {
        let profiler = self.backend.profiler();
        let not_logged_in = || protocol::ProtocolError {
            code: "not-logged-in",
            message: "say HELLO <user_id> first".into(),
        };
        match cmd {
            Command::Hello(user) => {
                let profile = profiler
                    .instrument("chat.hello", self.backend.profile(user))
                    .await?;
                session.user = Some(user);
                Ok(Some(Arc::from(format!(
                    "WELCOME {} {}\n",
                    profile.id, profile.name
                ))))
            }
            Command::Join(room) => {
                session.user.ok_or_else(not_logged_in)?;
                if !session.joined.contains(&room)
                    && session.joined.len() >= MAX_ROOMS_PER_CONNECTION
                {
                    return Err(protocol::ProtocolError {
                        code: "too-many-rooms",
                        message: format!(
                            "a connection may be in at most {MAX_ROOMS_PER_CONNECTION} rooms: \
                             LEAVE one first"
                        ),
                    });
                }
                let members = {
                    let _scope = profiler.scope("chat.join");
                    let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
                    let m = rooms.members.entry(room.clone()).or_default();
                    m.insert(session.id, session.outbox.clone());
                    m.len()
                };
                session.joined.insert(room.clone());
                Ok(Some(Arc::from(format!("JOINED {room} {members}\n"))))
            }
            Command::Leave(room) => {
                if !session.joined.remove(&room) {
                    return Err(protocol::ProtocolError {
                        code: "not-joined",
                        message: format!("not a member of {room}"),
                    });
                }
                self.leave(session.id, &room);
                Ok(Some(Arc::from(format!("LEFT {room}\n"))))
            }
            Command::Say { room, stamp, text } => {
                let user = session.user.ok_or_else(not_logged_in)?;
                if !session.joined.contains(&room) {
                    return Err(protocol::ProtocolError {
                        code: "not-joined",
                        message: format!("JOIN {room} before SAY"),
                    });
                }
                let text = profiler
                    .instrument("chat.mentions", self.resolve_mentions(&text))
                    .await?;
                let _scope = profiler.scope("chat.broadcast");
                let line: Arc<str> = Arc::from(format!("MSG {room} {user} {stamp} {text}\n"));
                let targets: Vec<Outbox> = {
                    let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
                    rooms
                        .members
                        .get(&room)
                        .map(|m| m.values().cloned().collect())
                        .unwrap_or_default()
                };
                // Every member (the sender too) is offered the line; a full outbox drops it.
                for out in targets {
                    if out.offer(line.clone()) {
                        self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    } else {
                        self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(None)
            }
            Command::Ping(token) => Ok(Some(Arc::from(format!("PONG {token}\n")))),
            // Handled by the connection loop before it gets here.
            Command::Quit => Ok(Some(Arc::from("BYE\n"))),
        }
    }

    /// Replaces each `@<user_id>` with `@<display name>`, looked up through the cache.
    async fn resolve_mentions(&self, text: &str) -> Result<String, protocol::ProtocolError> {
        let mut out = String::with_capacity(text.len() + 16);
        for (i, word) in text.split(' ').enumerate() {
            if i > 0 {
                out.push(' ');
            }
            match word.strip_prefix('@').and_then(|id| id.parse::<u32>().ok()) {
                Some(id) => {
                    let p = self.backend.profile(id).await?;
                    out.push('@');
                    out.push_str(&p.name);
                }
                None => out.push_str(word),
            }
        }
        Ok(out)
    }

    fn leave(&self, id: u64, room: &str) {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = rooms.members.get_mut(room) {
            m.remove(&id);
            if m.is_empty() {
                rooms.members.remove(room);
            }
        }
    }

    fn leave_all(&self, session: &mut Session) {
        for room in std::mem::take(&mut session.joined) {
            self.leave(session.id, &room);
        }
    }
}

struct Session {
    id: u64,
    user: Option<u32>,
    joined: HashSet<String>,
    /// Only offers lines (no waiting): see [`Outbox`].
    outbox: Outbox,
}

enum Line {
    Complete,
    TooLong,
    Eof,
}

/// Reads one line into `buf`, at most [`MAX_LINE`] bytes; a longer line is consumed up to
/// its newline and reported as `TooLong` without being kept in memory.
async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<Line> {
    let mut too_long = false;
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            // EOF: a partial last line without newline is dropped (the client hung up
            // mid-message).
            return Ok(Line::Eof);
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() + take > MAX_LINE + 2 {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        r.consume(take);
        if done {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Complete
            });
        }
    }
}
