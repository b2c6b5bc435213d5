//! [`TcpManager`]: pooled TCP connections to one address.

use std::io;

use tokio::net::TcpStream;

use super::{CreateFailure, Manager};

/// Makes TCP connections to one address (`host:port`; a name is resolved on each connect).
///
/// The health check is a non-blocking one-byte read on the idle connection: "would block"
/// means alive; end of stream means the peer closed it; unexpected bytes mean the protocol
/// is out of step. Either of the latter closes the connection, as does a pending socket
/// error. The same test runs when a connection is returned.
#[derive(Clone, Debug)]
pub struct TcpManager {
    addr: String,
    nodelay: bool,
}

impl TcpManager {
    /// Connections to `addr` (`"127.0.0.1:5432"`, `"db.internal:5432"`), with `TCP_NODELAY`.
    pub fn new(addr: impl Into<String>) -> TcpManager {
        TcpManager {
            addr: addr.into(),
            nodelay: true,
        }
    }

    /// Sets `TCP_NODELAY` on new connections (default on).
    pub fn nodelay(mut self, on: bool) -> TcpManager {
        self.nodelay = on;
        self
    }

    /// The address connected to.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

impl Manager for TcpManager {
    type Connection = TcpStream;
    type Error = io::Error;

    fn target(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    async fn create(&self) -> io::Result<TcpStream> {
        let stream = TcpStream::connect(self.addr.as_str()).await?;
        stream.set_nodelay(self.nodelay)?;
        Ok(stream)
    }

    async fn check(&self, connection: &mut TcpStream) -> io::Result<()> {
        probe(connection)
    }

    /// A malformed address will not become valid by retrying; everything else (refused,
    /// reset, unreachable, a failed lookup) may.
    fn classify(&self, error: &io::Error) -> CreateFailure {
        match error.kind() {
            io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported => CreateFailure::Fatal,
            _ => CreateFailure::Transient,
        }
    }

    fn is_broken(&self, connection: &mut TcpStream) -> bool {
        probe(connection).is_err()
    }
}

/// Whether an idle connection is still usable, without blocking.
fn probe(stream: &TcpStream) -> io::Result<()> {
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    let mut byte = [0u8; 1];
    match stream.try_read(&mut byte) {
        Ok(0) => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the peer closed the connection",
        )),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "unexpected bytes on an idle connection",
        )),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(e),
    }
}
