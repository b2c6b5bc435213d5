//! The demo's wiring: the limiter, cache, pool and profiler the chat server's handlers use.

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use perfopt_core::cache::CacheConfig;
use perfopt_core::limiter::{AimdConfig, Algorithm, GradientConfig};

use super::db::{self, Profile};
use super::protocol::ProtocolError;
use super::settings::{DemoConfig, DemoError, LimiterKind};
use crate::cache::{Cache, CacheSource};
use crate::limiter::{Limiter, LimiterConfig, LimiterSource};
use crate::monitor::MonitorHandle;
use crate::pool::{Pool, PoolConfig, PoolSource, SqliteManager};
use crate::profile::Profiler;

/// What the server's handlers use: limiter, cache, pool and profiler.
pub struct Backend {
    pub(crate) limiter: Limiter,
    pub(crate) cache: Arc<Cache<u32, Arc<Profile>>>,
    pub(crate) pool: Pool<SqliteManager>,
    pub(crate) profiler: Profiler,
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backend").finish_non_exhaustive()
    }
}

/// Why a profile could not be loaded.
#[derive(Debug)]
enum LoadError {
    /// No such user: the client's mistake.
    NoUser(u32),
    /// The pool or the database failed: the server's.
    Unavailable(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NoUser(id) => write!(f, "no user {id}"),
            LoadError::Unavailable(m) => f.write_str(m),
        }
    }
}

impl Backend {
    /// The limiter, cache, pool (of `db_path`) and profiler for `config`. Must run inside a
    /// tokio runtime (the pool starts its tasks).
    ///
    /// # Errors
    /// [`DemoError::Setup`] naming the component whose settings are invalid.
    pub fn new(config: &DemoConfig, db_path: &Path) -> Result<Backend, DemoError> {
        let algorithm = match config.limiter {
            LimiterKind::Fixed => Algorithm::Fixed(64),
            LimiterKind::Aimd => Algorithm::Aimd(AimdConfig::default()),
            LimiterKind::Gradient => Algorithm::Gradient(GradientConfig::default()),
        };
        // Room for a login storm of every client at once; beyond it, ERR busy (backpressure).
        let limiter_config =
            LimiterConfig::new(algorithm).with_max_waiters((config.clients as usize * 2).max(64));
        let limiter = Limiter::new(limiter_config).map_err(|e| DemoError::setup("limiter", e))?;
        // Profiles change rarely; a TTL bounds how stale a renamed user can look.
        let cache_config =
            CacheConfig::new(config.cache_size).with_default_ttl(Duration::from_secs(300));
        let cache = Cache::new(cache_config).map_err(|e| DemoError::setup("cache", e))?;
        let pool_config = PoolConfig::new(config.pool_size).with_min_idle(1.min(config.pool_size));
        let pool = Pool::new(SqliteManager::new(db_path), pool_config)
            .map_err(|e| DemoError::setup("pool", e.to_string()))?;
        Ok(Backend {
            limiter,
            cache: Arc::new(cache),
            pool,
            profiler: if config.instrumented {
                Profiler::new()
            } else {
                Profiler::disabled()
            },
        })
    }

    /// Reports the cache, pool and limiter to `monitor` (`components.cache`, `.pool`,
    /// `.limiter`).
    pub fn add_components(&self, monitor: &MonitorHandle) {
        monitor.add_component(Arc::new(CacheSource::new("cache", self.cache.clone())));
        monitor.add_component(Arc::new(PoolSource::new("pool", self.pool.clone())));
        monitor.add_component(Arc::new(LimiterSource::new(
            "limiter",
            self.limiter.clone(),
        )));
    }

    /// The limiter commands run under.
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// The profiler handlers record into.
    pub fn profiler(&self) -> &Profiler {
        &self.profiler
    }

    /// Runs `work` under the limiter; a rejection or queue timeout becomes `ERR busy`.
    pub async fn limited<F: Future>(&self, work: F) -> Result<F::Output, ProtocolError> {
        self.limiter.run(work).await.map_err(|e| ProtocolError {
            code: "busy",
            message: e.to_string(),
        })
    }

    /// A user's profile: from the cache, or loaded once from SQLite through the pool.
    pub async fn profile(&self, id: u32) -> Result<Arc<Profile>, ProtocolError> {
        let pool = self.pool.clone();
        let profiler = self.profiler.clone();
        let unavailable = |e: &dyn fmt::Display| LoadError::Unavailable(e.to_string());
        let load = move || async move {
            profiler
                .instrument("db.load_profile", async move {
                    let conn = pool.get().await.map_err(|e| unavailable(&e))?;
                    let row = conn
                        .interact(move |c| db::load_profile(c, id))
                        .await
                        .map_err(|e| unavailable(&e))?;
                    match row {
                        Ok(Some(p)) => Ok(Arc::new(p)),
                        Ok(None) => Err(LoadError::NoUser(id)),
                        Err(e) => Err(unavailable(&e)),
                    }
                })
                .await
        };
        self.profiler
            .instrument("cache.get_or_load", self.cache.get_or_load(id, load))
            .await
            .map_err(|e: crate::cache::LoadError<LoadError>| ProtocolError {
                code: match e.get_ref() {
                    LoadError::NoUser(_) => "bad-user",
                    LoadError::Unavailable(_) => "unavailable",
                },
                message: e.get_ref().to_string(),
            })
    }
}
