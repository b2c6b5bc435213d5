//! The demo's user database: a real SQLite file with one row per user profile.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

/// A user's profile, as the chat server shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// User id (1-based).
    pub id: u32,
    /// Display name.
    pub name: String,
    /// A short bio (to give rows some weight).
    pub bio: String,
}

/// Creates (or replaces) the `users` table at `path` with `users` profiles.
///
/// # Errors
/// SQLite's error, for an unopenable path or a full disk.
pub fn create(path: &Path, users: u32) -> rusqlite::Result<()> {
    let mut conn = Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         DROP TABLE IF EXISTS users;
         CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, bio TEXT NOT NULL);",
    )?;
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare("INSERT INTO users (id, name, bio) VALUES (?1, ?2, ?3)")?;
        for id in 1..=users {
            let name = format!("user{id:05}");
            let bio = format!("Member #{id}, chatting since {}.", 2000 + id % 25);
            insert.execute(params![id, name, bio])?;
        }
    }
    tx.commit()
}

/// Loads one profile.
///
/// # Errors
/// SQLite's error; a missing user is `Ok(None)`.
pub fn load_profile(conn: &Connection, id: u32) -> rusqlite::Result<Option<Profile>> {
    conn.prepare_cached("SELECT id, name, bio FROM users WHERE id = ?1")?
        .query_row(params![id], |row| {
            Ok(Profile {
                id: row.get(0)?,
                name: row.get(1)?,
                bio: row.get(2)?,
            })
        })
        .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_and_loads_profiles_from_a_real_file() {
        let dir = std::env::temp_dir().join(format!("perfopt-db-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users.db");
        create(&path, 100).unwrap();
        let conn = Connection::open(&path).unwrap();
        let p = load_profile(&conn, 42).unwrap().unwrap();
        assert_eq!((p.id, p.name.as_str()), (42, "user00042"));
        assert_eq!(load_profile(&conn, 101).unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
