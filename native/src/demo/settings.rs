//! The demo's settings, their ranges, and its typed errors.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Which limit algorithm the server's limiter uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimiterKind {
    /// A fixed number of concurrent commands.
    Fixed,
    /// Additive increase, multiplicative decrease.
    Aimd,
    /// Latency gradient (Gradient2 / Envoy style).
    Gradient,
}

/// Settings of the demo. [`DemoConfig::validate`] checks the ranges.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// Simulated users, each a TCP connection.
    pub clients: u32,
    /// Messages per second per client.
    pub rate: f64,
    /// How long the clients send.
    pub duration: Duration,
    /// Users in the database.
    pub users: u32,
    /// Profile cache capacity (entries).
    pub cache_size: u64,
    /// Maximum SQLite connections.
    pub pool_size: usize,
    /// Limiter algorithm.
    pub limiter: LimiterKind,
    /// Users per room.
    pub room_size: u32,
    /// Where the SQLite file goes (a temporary folder by default).
    pub data_dir: Option<PathBuf>,
    /// Profile handlers and report latencies to the monitor (off only to measure what the
    /// instrumentation costs; the 1 Hz system sampling runs either way).
    pub instrumented: bool,
    /// Each client sends its next message as soon as the previous one came back (measures
    /// capacity), instead of at `rate`.
    pub closed_loop: bool,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            clients: 200,
            rate: 5.0,
            duration: Duration::from_secs(20),
            users: 10_000,
            cache_size: 5_000,
            pool_size: 4,
            limiter: LimiterKind::Gradient,
            room_size: 10,
            data_dir: None,
            instrumented: true,
            closed_loop: false,
        }
    }
}

/// A setting out of its range: the flag, the value given and what is allowed.
#[derive(Clone, Debug, PartialEq)]
pub struct SettingError {
    /// The command-line flag (`--clients`).
    pub flag: &'static str,
    /// The value given, as text.
    pub value: String,
    /// The allowed range, as text.
    pub allowed: &'static str,
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} is out of range: use {}",
            self.flag, self.value, self.allowed
        )
    }
}

impl std::error::Error for SettingError {}

impl DemoConfig {
    /// Checks every setting's range.
    ///
    /// # Errors
    /// The first [`SettingError`]: the flag, the value and the allowed range.
    pub fn validate(&self) -> Result<(), SettingError> {
        let check = |ok: bool, flag, value: String, allowed| {
            if ok {
                Ok(())
            } else {
                Err(SettingError {
                    flag,
                    value,
                    allowed,
                })
            }
        };
        check(
            (1..=5_000).contains(&self.clients),
            "--clients",
            self.clients.to_string(),
            "1 to 5000",
        )?;
        check(
            self.rate.is_finite() && self.rate > 0.0 && self.rate <= 1_000.0,
            "--rate",
            self.rate.to_string(),
            "more than 0 and at most 1000 messages/s per client",
        )?;
        check(
            self.duration >= Duration::from_secs(1) && self.duration <= Duration::from_secs(3_600),
            "--duration",
            format!("{:?}", self.duration),
            "1s to 1h",
        )?;
        check(
            (1..=1_000_000).contains(&self.users),
            "--users",
            self.users.to_string(),
            "1 to 1000000",
        )?;
        check(
            (1..=10_000_000).contains(&self.cache_size),
            "--cache-size",
            self.cache_size.to_string(),
            "1 to 10000000",
        )?;
        check(
            (1..=64).contains(&self.pool_size),
            "--pool-size",
            self.pool_size.to_string(),
            "1 to 64",
        )?;
        check(
            (1..=1_000).contains(&self.room_size),
            "--room-size",
            self.room_size.to_string(),
            "1 to 1000",
        )
    }
}

/// Why the demo could not run.
#[derive(Debug)]
#[non_exhaustive]
pub enum DemoError {
    /// A setting is out of range.
    Config(SettingError),
    /// The database could not be created at `path`.
    Database {
        /// The database file or its folder.
        path: PathBuf,
        /// What failed.
        error: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A component could not be built.
    Setup {
        /// Which component (`limiter`, `cache`, `pool`, `monitor`).
        component: &'static str,
        /// What failed.
        error: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The server could not listen, or a task of the run failed.
    Io(std::io::Error),
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DemoError::Config(e) => e.fmt(f),
            DemoError::Database { path, error } => {
                write!(f, "demo database {}: {error}", path.display())
            }
            DemoError::Setup { component, error } => write!(f, "demo {component}: {error}"),
            DemoError::Io(e) => write!(f, "demo server: {e}"),
        }
    }
}

impl std::error::Error for DemoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DemoError::Config(e) => Some(e),
            DemoError::Database { error, .. } | DemoError::Setup { error, .. } => Some(&**error),
            DemoError::Io(e) => Some(e),
        }
    }
}

impl DemoError {
    pub(super) fn setup(
        component: &'static str,
        error: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> DemoError {
        DemoError::Setup {
            component,
            error: error.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_settings_name_the_flag() {
        let config = DemoConfig {
            pool_size: 0,
            ..DemoConfig::default()
        };
        let err = config.validate().unwrap_err();
        assert_eq!(err.flag, "--pool-size");
        assert_eq!(
            err.to_string(),
            "--pool-size 0 is out of range: use 1 to 64"
        );
        assert!(DemoConfig::default().validate().is_ok());
    }
}
