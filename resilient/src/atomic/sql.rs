//! SQLite work that commits or rolls back with the atomic scope around it, through savepoints
//! (feature `sqlite`).
//!
//! [`Database::savepoint`] opens a savepoint in the current scope and hands out the connection:
//! if the scope rolls back, the database goes back to the savepoint; when the outermost scope
//! commits, the savepoint is released (for the outermost one, that is the commit). So one
//! `#[atomic]` function's database writes and file writes commit or roll back together, and a
//! nested `#[atomic]` function's writes are undone with it, or with any scope around it.
//!
//! ```
//! use resilient::atomic::sql::Database;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), sqlx::Error> {
//! let db = Database::connect("sqlite::memory:").await?;
//! sqlx::raw_sql("CREATE TABLE users (name TEXT)").execute(&mut *db.connection().await).await?;
//!
//! #[resilient::atomic]
//! async fn add_user(db: &Database, name: &str) -> Result<(), sqlx::Error> {
//!     let mut conn = db.savepoint().await?;
//!     sqlx::query("INSERT INTO users (name) VALUES (?)").bind(name).execute(&mut *conn).await?;
//!     if name.is_empty() {
//!         return Err(sqlx::Error::Protocol("a name is required".into()));
//!     }
//!     Ok(())
//! }
//!
//! add_user(&db, "ada").await?;
//! assert!(add_user(&db, "").await.is_err()); // its row is rolled back
//! let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&mut *db.connection().await).await?;
//! assert_eq!(count, 1);
//! # Ok(()) }
//! ```
//!
//! The connection is shared behind an async lock: release it (drop the guard) before calling
//! another atomic function that uses the same database, since that function's rollback needs it.

use super::{in_scope, on_commit_async, on_rollback_async};
use sqlx::{Connection, SqliteConnection};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Mutex, MutexGuard};
use tracing::Level;

/// One SQLite connection whose work joins atomic scopes.
pub struct Database {
    connection: Arc<Mutex<SqliteConnection>>,
    savepoints: AtomicU64,
}

impl Database {
    /// Connects to `url` (`sqlite://path/to/file.db`, `sqlite::memory:`).
    ///
    /// # Errors
    ///
    /// What sqlx reports: a file that cannot be opened, a malformed URL.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        Ok(Self::new(SqliteConnection::connect(url).await?))
    }

    /// Wraps an open connection.
    pub fn new(connection: SqliteConnection) -> Self {
        Self {
            connection: Arc::new(Mutex::new(connection)),
            savepoints: AtomicU64::new(0),
        }
    }

    /// The connection, for work outside any scope (it commits statement by statement).
    pub async fn connection(&self) -> MutexGuard<'_, SqliteConnection> {
        self.connection.lock().await
    }

    /// Opens a savepoint in the current atomic scope and returns the connection: what is done
    /// with it is rolled back with the scope, and released when the outermost scope commits.
    /// Outside any scope it is reported at WARN and the connection is returned as it is.
    ///
    /// # Errors
    ///
    /// The error of the `SAVEPOINT` statement.
    pub async fn savepoint(&self) -> Result<MutexGuard<'_, SqliteConnection>, sqlx::Error> {
        let mut connection = self.connection.lock().await;
        if !in_scope() {
            tracing::event!(
                name: "atomic.sql_outside_scope",
                target: "resilient",
                Level::WARN,
                correlation_id = crate::correlation::field(),
                "a savepoint was asked for outside any atomic scope: statements commit one by one"
            );
            return Ok(connection);
        }
        let name = format!(
            "resilient_{}",
            self.savepoints.fetch_add(1, Ordering::Relaxed)
        );
        sqlx::raw_sql(&format!("SAVEPOINT {name}"))
            .execute(&mut *connection)
            .await?;
        let undo = format!("ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}");
        let (for_undo, for_release) = (Arc::clone(&self.connection), Arc::clone(&self.connection));
        on_rollback_async(move || finish(for_undo, undo, false));
        on_commit_async(move || finish(for_release, format!("RELEASE SAVEPOINT {name}"), true));
        Ok(connection)
    }
}

/// Runs the statement that ends a savepoint; a failure is reported at ERROR (critical for a
/// release: the work may stay uncommitted).
async fn finish(connection: Arc<Mutex<SqliteConnection>>, statement: String, releasing: bool) {
    let mut connection = connection.lock().await;
    if let Err(error) = execute(&mut connection, &statement).await {
        tracing::event!(
            name: "atomic.sql_failed",
            target: "resilient",
            Level::ERROR,
            correlation_id = crate::correlation::field(),
            critical = releasing,
            statement,
            error = %error,
            "`{statement}` failed: {error}"
        );
    }
}

/// Runs `sql` (one statement or several). Through `Executor::execute`, whose boxed future is
/// `Send` as written: an `async` block awaiting `raw_sql(..).execute(..)` fails its `Send` proof
/// (rust-lang/rust#102211).
async fn execute(connection: &mut SqliteConnection, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::Executor::execute(connection, sql).await.map(drop)
}
