//! An example service: perfopt as a library inside an axum app.
//!
//! `GET /user/{id}` goes through perfopt's concurrency limiter ([`LimiterLayer`]: 503 with
//! `Retry-After` when it sheds, 504 when a request waited too long), reads the user's name
//! through the two-tier cache (`get_or_load`: one load per key however many requests miss it
//! at once) in front of a SQLite database reached through perfopt's connection pool, and is
//! profiled through the `tracing` layer. A middleware records every request's latency into
//! the monitor, which samples this process every second. The viewer, the JSON report, the
//! live stream and Prometheus `/metrics` are mounted under `/perf/`.
//!
//! ```sh
//! cargo run --release --example service -- --addr 127.0.0.1:3000
//! curl 127.0.0.1:3000/user/7
//! open http://127.0.0.1:3000/perf/          # the live viewer
//! curl 127.0.0.1:3000/perf/metrics          # Prometheus text format
//! ```
//! Options: `--addr HOST:PORT` (port 0 picks one; the first line printed names it),
//! `--users N` (rows in the database, default 10,000), `--limit N` (the limiter's fixed
//! limit; `0` means adaptive Gradient, the default), `--no-limiter` (to measure its cost).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use perfopt::cache::{Cache, CacheConfig, CacheSource};
use perfopt::limiter::{Algorithm, Limiter, LimiterConfig, LimiterLayer, http_outcome};
use perfopt::monitor::{Monitor, MonitorConfig, MonitorHandle, Watch};
use perfopt::pool::{GetError, Pool, PoolConfig, SqliteError, SqliteManager};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

/// The service's own error: what went wrong loading a user.
#[derive(Debug)]
enum LoadUserError {
    NotFound(i64),
    Pool(GetError<SqliteError>),
    Db(String),
}

impl std::fmt::Display for LoadUserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadUserError::NotFound(id) => write!(f, "no user {id}"),
            LoadUserError::Pool(e) => write!(f, "database unavailable: {e}"),
            LoadUserError::Db(e) => write!(f, "database error: {e}"),
        }
    }
}

impl std::error::Error for LoadUserError {}

#[derive(Clone)]
struct App {
    cache: Arc<Cache<i64, String>>,
    db: Arc<Pool<SqliteManager>>,
}

async fn load_user(db: &Pool<SqliteManager>, id: i64) -> Result<String, LoadUserError> {
    let conn = db.get().await.map_err(LoadUserError::Pool)?;
    let row = conn
        .interact(move |c| {
            c.query_row("SELECT name FROM users WHERE id = ?1", [id], |r| {
                r.get::<_, String>(0)
            })
        })
        .await
        .map_err(|e| LoadUserError::Db(e.to_string()))?;
    match row {
        Ok(name) => Ok(name),
        Err(perfopt::pool::rusqlite::Error::QueryReturnedNoRows) => {
            Err(LoadUserError::NotFound(id))
        }
        Err(e) => Err(LoadUserError::Db(e.to_string())),
    }
}

async fn user(State(app): State<App>, Path(id): Path<i64>) -> Response {
    let db = Arc::clone(&app.db);
    match app
        .cache
        .get_or_load(id, || async move {
            // A `tracing` span: the profiler's layer makes it a scope of the report.
            load_user(&db, id)
                .instrument(tracing::info_span!("db.load_user"))
                .await
        })
        .await
    {
        Ok(name) => format!("{name}\n").into_response(),
        Err(e) => {
            let status = match e.get_ref() {
                LoadUserError::NotFound(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            (status, format!("{}\n", e.get_ref())).into_response()
        }
    }
}

/// Records each request's latency and outcome into the monitor.
async fn record(State(monitor): State<MonitorHandle>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let res = next.run(req).await;
    monitor.record_request(start.elapsed(), !res.status().is_server_error());
    res
}

struct Args {
    addr: SocketAddr,
    users: i64,
    limit: u32,
    limiter: bool,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
        users: 10_000,
        limit: 0,
        limiter: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "--addr" => {
                let v = value("--addr")?;
                args.addr = v.parse().map_err(|e| format!("--addr {v}: {e}"))?;
            }
            "--users" => {
                let v = value("--users")?;
                args.users = v.parse().map_err(|e| format!("--users {v}: {e}"))?;
            }
            "--limit" => {
                let v = value("--limit")?;
                args.limit = v.parse().map_err(|e| format!("--limit {v}: {e}"))?;
            }
            "--no-limiter" => args.limiter = false,
            other => return Err(format!("unknown option {other} (see the file's header)")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = args().map_err(|e| format!("service: {e}"))?;

    // The monitor samples this process and builds the report the viewer shows.
    let monitor = Monitor::start(MonitorConfig {
        interval: Duration::from_secs(1),
        watch: Watch::Pid(std::process::id()),
        ..MonitorConfig::default()
    })?;
    let handle = monitor.handle();
    // Spans of the `tracing` crate become profile scopes in the report.
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(handle.profiler().layer()),
    )?;

    // A SQLite file with `users` rows, reached through a pool of 4 connections.
    let dir = std::env::temp_dir().join(format!("perfopt-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = Arc::new(Pool::new(
        SqliteManager::new(dir.join("users.db")),
        PoolConfig::new(4),
    )?);
    let users = args.users;
    db.get()
        .await?
        .interact(move |c| -> perfopt::pool::rusqlite::Result<()> {
            let tx = c.transaction()?;
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
            )?;
            for id in 1..=users {
                tx.execute(
                    "INSERT OR REPLACE INTO users VALUES (?1, ?2)",
                    (id, format!("user {id}")),
                )?;
            }
            tx.commit()
        })
        .await??;

    let cache = Arc::new(Cache::new(CacheConfig::new(1_000))?);
    handle.add_component(Arc::new(CacheSource::new("cache", Arc::clone(&cache))));
    let algorithm = match args.limit {
        0 => Algorithm::Gradient(Default::default()),
        n => Algorithm::Fixed(n),
    };
    let limiter = Limiter::new(LimiterConfig::new(algorithm))?;

    let api = Router::new()
        .route("/user/{id}", get(user))
        .with_state(App { cache, db });
    let api = if args.limiter {
        api.layer(LimiterLayer::new(limiter).classify(http_outcome))
    } else {
        api
    };
    let app = api
        .layer(middleware::from_fn_with_state(handle.clone(), record))
        .merge(perfopt::http::mounted("/perf", Arc::new(handle.clone())));

    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    println!("service: listening on http://{}", listener.local_addr()?);
    let run = tokio::spawn(monitor.run(std::future::pending()));
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    run.abort();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
