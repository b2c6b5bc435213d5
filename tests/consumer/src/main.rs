//! A tiny "service" on perfopt without default features, beside its own rusqlite.

use std::sync::Arc;

use anyhow::Context;
use perfopt::cache::{Cache, CacheConfig};
use perfopt::limiter::{Algorithm, Limiter, LimiterConfig};
use perfopt::pool::{ObjectManager, Pool, PoolConfig};

/// The service's own database, on the service's own rusqlite version.
fn open_db() -> anyhow::Result<rusqlite::Connection> {
    let db = rusqlite::Connection::open_in_memory().context("opening the service's database")?;
    db.execute_batch(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         INSERT INTO users VALUES (1, 'ada'), (2, 'grace');",
    )?;
    Ok(db)
}

/// `?` on `get_or_load` in a function returning `anyhow::Result`.
async fn user_name(
    cache: &Cache<i64, String>,
    db: &Arc<std::sync::Mutex<rusqlite::Connection>>,
    id: i64,
) -> anyhow::Result<String> {
    let db = Arc::clone(db);
    let name = cache
        .get_or_load(id, || async move {
            let db = db.lock().expect("db lock");
            db.query_row("SELECT name FROM users WHERE id = ?1", [id], |row| row.get(0))
        })
        .await
        .with_context(|| format!("loading user {id}"))?;
    Ok(name)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let db = Arc::new(std::sync::Mutex::new(open_db()?));
    let cache: Cache<i64, String> = Cache::new(CacheConfig::new(1_000))?;
    assert_eq!(user_name(&cache, &db, 1).await?, "ada");
    assert_eq!(user_name(&cache, &db, 1).await?, "ada");
    assert_eq!(cache.stats().hits(), 1);
    let err = user_name(&cache, &db, 99).await.expect_err("no user 99");
    let chain = format!("{err:#}");
    assert!(chain.contains("loading user 99"), "{chain}");
    assert!(chain.contains("Query returned no rows"), "{chain}");

    let limiter = Arc::new(Limiter::new(LimiterConfig::new(Algorithm::Fixed(4)))?);
    let buffers = Arc::new(Pool::new(
        ObjectManager::new(|| Vec::<u8>::with_capacity(1024), Vec::clear),
        PoolConfig::for_objects(2),
    )?);
    let mut tasks = Vec::new();
    for i in 0..16u8 {
        let (limiter, buffers) = (Arc::clone(&limiter), Arc::clone(&buffers));
        tasks.push(tokio::spawn(async move {
            limiter
                .run(async {
                    let mut buf = buffers.get().await.expect("a buffer");
                    buf.push(i);
                    buf.len()
                })
                .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await??, 1);
    }
    assert_eq!(limiter.stats().admitted, 16);
    assert!(buffers.stats().created <= 2);
    println!("consumer: ok (perfopt without default features beside rusqlite 0.37)");
    Ok(())
}
