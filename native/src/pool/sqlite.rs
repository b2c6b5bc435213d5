//! [`SqliteManager`]: pooled connections to one SQLite database file (rusqlite with its
//! bundled SQLite). SQLite calls block, so they run on tokio's blocking threads.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rusqlite::{ErrorCode, OpenFlags};

use super::{CreateFailure, Manager};

type Init = Arc<dyn Fn(&rusqlite::Connection) -> rusqlite::Result<()> + Send + Sync>;

/// Opens connections to one database file; checks one by `SELECT 1`.
///
/// An unopenable path (a missing directory, a file that is not a database, no permission)
/// is a fatal creation failure: waiting callers fail at once with
/// [`GetError::Create`](super::GetError::Create) naming the path.
#[derive(Clone)]
pub struct SqliteManager {
    path: PathBuf,
    flags: OpenFlags,
    init: Option<Init>,
}

impl fmt::Debug for SqliteManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteManager")
            .field("path", &self.path)
            .field("flags", &self.flags)
            .finish()
    }
}

impl SqliteManager {
    /// Connections to the database at `path`, created if missing (read-write, the SQLite
    /// defaults, no SQLite-level mutex: the pool gives each connection to one user at a time).
    pub fn new(path: impl AsRef<Path>) -> SqliteManager {
        SqliteManager {
            path: path.as_ref().to_path_buf(),
            flags: OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            init: None,
        }
    }

    /// Opens with `flags` instead (e.g. read-only).
    pub fn flags(mut self, flags: OpenFlags) -> SqliteManager {
        self.flags = flags;
        self
    }

    /// Runs `init` on each new connection (pragmas such as `journal_mode = WAL`,
    /// `busy_timeout`); an error fails the creation.
    pub fn with_init(
        mut self,
        init: impl Fn(&rusqlite::Connection) -> rusqlite::Result<()> + Send + Sync + 'static,
    ) -> SqliteManager {
        self.init = Some(Arc::new(init));
        self
    }

    /// The database path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A pooled SQLite connection. Use [`interact`](SqliteConnection::interact) from async code
/// (it runs on a blocking thread), or [`lock`](SqliteConnection::lock) from blocking code.
#[derive(Debug)]
pub struct SqliteConnection {
    inner: Arc<Mutex<rusqlite::Connection>>,
}

impl SqliteConnection {
    /// Runs `f` with the connection on tokio's blocking threads and returns its result.
    ///
    /// # Errors
    /// [`SqliteError::Task`] if `f` panicked (the connection is then closed on return).
    pub async fn interact<F, R>(&self, f: F) -> Result<R, SqliteError>
    where
        F: FnOnce(&mut rusqlite::Connection) -> R + Send + 'static,
        R: Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut conn = lock(&inner);
            f(&mut conn)
        })
        .await
        .map_err(|e| SqliteError::Task(e.to_string()))
    }

    /// The connection, for blocking code (call it inside `spawn_blocking` or
    /// `block_in_place`, not on an async worker).
    pub fn lock(&self) -> MutexGuard<'_, rusqlite::Connection> {
        lock(&self.inner)
    }
}

/// Locks a connection even after a closure panicked while holding it: the pool sees the
/// poisoning ([`Manager::is_broken`]) and drops the connection when it comes back.
fn lock(inner: &Mutex<rusqlite::Connection>) -> MutexGuard<'_, rusqlite::Connection> {
    inner.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why a SQLite connection could not be made or checked.
#[derive(Debug)]
#[non_exhaustive]
pub enum SqliteError {
    /// SQLite's error (for an unopenable file: "unable to open database file").
    Sqlite(rusqlite::Error),
    /// The blocking task running SQLite panicked or was cancelled.
    Task(String),
}

impl fmt::Display for SqliteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqliteError::Sqlite(e) => e.fmt(f),
            SqliteError::Task(e) => write!(f, "SQLite task failed: {e}"),
        }
    }
}

impl std::error::Error for SqliteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SqliteError::Sqlite(e) => Some(e),
            SqliteError::Task(_) => None,
        }
    }
}

impl From<rusqlite::Error> for SqliteError {
    fn from(e: rusqlite::Error) -> Self {
        SqliteError::Sqlite(e)
    }
}

impl Manager for SqliteManager {
    type Connection = SqliteConnection;
    type Error = SqliteError;

    fn target(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    async fn create(&self) -> Result<SqliteConnection, SqliteError> {
        let (path, flags, init) = (self.path.clone(), self.flags, self.init.clone());
        let conn = tokio::task::spawn_blocking(move || -> Result<_, SqliteError> {
            let conn = rusqlite::Connection::open_with_flags(&path, flags)?;
            // Opening is lazy: read the schema so a file that is not a database fails here.
            conn.query_row("PRAGMA schema_version", [], |row| row.get::<_, i64>(0))?;
            if let Some(init) = init {
                init(&conn)?;
            }
            Ok(conn)
        })
        .await
        .map_err(|e| SqliteError::Task(e.to_string()))??;
        Ok(SqliteConnection {
            inner: Arc::new(Mutex::new(conn)),
        })
    }

    async fn check(&self, connection: &mut SqliteConnection) -> Result<(), SqliteError> {
        connection
            .interact(|conn| conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0)))
            .await??;
        Ok(())
    }

    /// A path SQLite cannot open, a file that is not a database, or missing permissions
    /// will not fix themselves by retrying; a busy or locked database may.
    fn classify(&self, error: &SqliteError) -> CreateFailure {
        let code = match error {
            SqliteError::Sqlite(e) => e.sqlite_error_code(),
            SqliteError::Task(_) => None,
        };
        match code {
            Some(
                ErrorCode::CannotOpen
                | ErrorCode::NotADatabase
                | ErrorCode::PermissionDenied
                | ErrorCode::ReadOnly
                | ErrorCode::AuthorizationForStatementDenied,
            ) => CreateFailure::Fatal,
            _ => CreateFailure::Transient,
        }
    }

    /// A connection whose closure panicked mid-statement is in an unknown state.
    fn is_broken(&self, connection: &mut SqliteConnection) -> bool {
        connection.inner.is_poisoned()
    }
}
