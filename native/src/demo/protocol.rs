//! The chat line protocol of `perfopt demo`. One command per line (UTF-8, at most
//! [`MAX_LINE`] bytes, `\n`-terminated); the server answers with lines.
//!
//! | client → server | server → client |
//! |---|---|
//! | `HELLO <user_id>` | `WELCOME <user_id> <display name>` (the profile comes from the cache, backed by SQLite) |
//! | `JOIN <room>` | `JOINED <room> <members>` |
//! | `LEAVE <room>` | `LEFT <room>` |
//! | `SAY <room> <stamp> <text>` | `MSG <room> <user_id> <stamp> <text>` to every member, the sender too |
//! | `PING <token>` | `PONG <token>` |
//! | `QUIT` | `BYE`, then the server closes |
//! | anything else | `ERR <code> <message>`; the connection stays open |
//!
//! Rooms are 1–32 characters of `a-z 0-9 _ -`; `<stamp>` is an opaque unsigned integer the
//! client uses to measure delivery latency; a client must say `HELLO` before anything else
//! but `PING` and `QUIT`.

use std::fmt;

/// Longest accepted line, in bytes, without the newline.
pub const MAX_LINE: usize = 4096;

/// A parsed client command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Log in as a user.
    Hello(u32),
    /// Join a room.
    Join(String),
    /// Leave a room.
    Leave(String),
    /// Send a message to a room.
    Say {
        /// The room.
        room: String,
        /// The client's opaque stamp, echoed back.
        stamp: u64,
        /// The text.
        text: String,
    },
    /// Liveness check.
    Ping(String),
    /// Goodbye.
    Quit,
}

/// Why a line was rejected: the `ERR` reply's code and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError {
    /// Stable code (`unknown-command`, `bad-argument`, `too-long`, …).
    pub code: &'static str,
    /// Human explanation.
    pub message: String,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ERR {} {}", self.code, self.message)
    }
}

fn err(code: &'static str, message: impl Into<String>) -> ProtocolError {
    ProtocolError {
        code,
        message: message.into(),
    }
}

fn room(arg: Option<&str>) -> Result<String, ProtocolError> {
    let r = arg.ok_or_else(|| err("bad-argument", "missing room name"))?;
    let ok = !r.is_empty()
        && r.len() <= 32
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(r.to_string())
    } else {
        Err(err(
            "bad-argument",
            format!("bad room name {r:?}: use 1-32 of a-z 0-9 _ -"),
        ))
    }
}

/// Parses one line (without its newline; a trailing `\r` is ignored).
///
/// # Errors
/// A [`ProtocolError`] to send back as `ERR <code> <message>`.
pub fn parse(line: &str) -> Result<Command, ProtocolError> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.len() > MAX_LINE {
        return Err(err(
            "too-long",
            format!("lines are limited to {MAX_LINE} bytes"),
        ));
    }
    let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
    let mut args = rest.split(' ').filter(|a| !a.is_empty());
    let cmd = match verb {
        "HELLO" => {
            let id = args
                .next()
                .ok_or_else(|| err("bad-argument", "missing user id"))?;
            let id: u32 = id
                .parse()
                .map_err(|_| err("bad-argument", format!("user id {id:?} is not a number")))?;
            Command::Hello(id)
        }
        "JOIN" => Command::Join(room(args.next())?),
        "LEAVE" => Command::Leave(room(args.next())?),
        "SAY" => {
            let mut parts = rest.splitn(3, ' ');
            let room = room(parts.next())?;
            let stamp = parts
                .next()
                .ok_or_else(|| err("bad-argument", "missing stamp"))?;
            let stamp: u64 = stamp
                .parse()
                .map_err(|_| err("bad-argument", format!("stamp {stamp:?} is not a number")))?;
            let text = parts.next().unwrap_or("").to_string();
            return Ok(Command::Say { room, stamp, text });
        }
        "PING" => return Ok(Command::Ping(rest.to_string())),
        "QUIT" => Command::Quit,
        "" => return Err(err("unknown-command", "empty line")),
        other => {
            let shown: String = other.chars().take(32).collect();
            return Err(err(
                "unknown-command",
                format!("{shown:?}: try HELLO, JOIN, LEAVE, SAY, PING or QUIT"),
            ));
        }
    };
    if args.next().is_some() {
        return Err(err(
            "bad-argument",
            format!("too many arguments for {verb}"),
        ));
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_command() {
        assert_eq!(parse("HELLO 42"), Ok(Command::Hello(42)));
        assert_eq!(parse("JOIN lobby\r"), Ok(Command::Join("lobby".into())));
        assert_eq!(parse("LEAVE room-2"), Ok(Command::Leave("room-2".into())));
        assert_eq!(
            parse("SAY lobby 123 hello  there "),
            Ok(Command::Say {
                room: "lobby".into(),
                stamp: 123,
                text: "hello  there ".into()
            })
        );
        assert_eq!(
            parse("SAY lobby 7"),
            Ok(Command::Say {
                room: "lobby".into(),
                stamp: 7,
                text: String::new()
            })
        );
        assert_eq!(parse("PING abc"), Ok(Command::Ping("abc".into())));
        assert_eq!(parse("QUIT"), Ok(Command::Quit));
    }

    #[test]
    fn rejects_malformed_lines_with_a_code() {
        let code = |l: &str| parse(l).unwrap_err().code;
        assert_eq!(code(""), "unknown-command");
        assert_eq!(code("DANCE"), "unknown-command");
        assert_eq!(code("HELLO"), "bad-argument");
        assert_eq!(code("HELLO bob"), "bad-argument");
        assert_eq!(code("HELLO 1 2"), "bad-argument");
        assert_eq!(code("JOIN Lobby!"), "bad-argument");
        assert_eq!(code("JOIN"), "bad-argument");
        assert_eq!(code(&format!("JOIN {}", "a".repeat(33))), "bad-argument");
        assert_eq!(code("SAY lobby soon hi"), "bad-argument");
        assert_eq!(code(&"x".repeat(MAX_LINE + 1)), "too-long");
        assert!(
            parse("DANCE")
                .unwrap_err()
                .to_string()
                .starts_with("ERR unknown-command ")
        );
    }
}
