//! Database writes through SQLite savepoints commit or roll back with the atomic scope, together
//! with file writes (needs the `sqlite` feature: `cargo test -p resilient --features sqlite`).
//! The tests are those of every database, in `support/sql_scenarios.rs`.

mod common;
#[path = "support/sql_scenarios.rs"]
mod scenarios;

use resilient::atomic::sql::Database;
use std::path::Path;

type Db = Database;

/// One transaction writes at a time: a writer waits for the one before it.
const WRITERS_AT_ONCE: bool = false;

/// A database file in the test's directory, and a second connection to read it.
async fn database(dir: &Path, _test: &str) -> (Db, Db, String) {
    let url = format!("sqlite://{}?mode=rwc", dir.join("app.db").display());
    let db = Database::connect(&url).await.unwrap();
    let reader = Database::connect(&url).await.unwrap();
    (db, reader, url)
}

/// Fails unless a write transaction can start within sqlx's busy timeout (5 s): no scope's
/// transaction holds the write lock.
async fn no_transaction_left_open(reader: &Db) {
    sqlx::raw_sql("BEGIN IMMEDIATE; ROLLBACK")
        .execute(&mut *reader.connection().await)
        .await
        .unwrap();
}
