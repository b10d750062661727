//! SQLite work that commits or rolls back with the atomic scope around it, through savepoints
//! (feature `sqlite`).
//!
//! [`Database::savepoint`] opens a savepoint in the current scope and hands out the connection:
//! if the scope rolls back, the database goes back to the savepoint; when the outermost scope
//! commits, so does its transaction. So one `#[atomic]` function's database writes and file writes
//! commit or roll back together, and a nested `#[atomic]` function's writes are undone with it, or
//! with any scope around it.
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
//! Each outermost scope has a connection of its own for as long as it runs (the scopes nested in
//! it share it), so concurrent scopes never undo one another's work, and plain work through
//! [`Database::connection`] never runs inside a scope's transaction. SQLite lets one transaction
//! write at a time: a writer waits for the one before it to end. A connection handed out is
//! locked while held: release it (drop it) before calling another atomic function that uses the
//! same database, since that function's rollback needs it.

use super::{on_outermost_end, on_rollback_async, outermost_value};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{ConnectOptions, Sqlite, SqliteConnection};
use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Mutex, OnceCell, OwnedMutexGuard};
use tracing::Level;

/// A SQLite database whose work joins atomic scopes.
pub struct Database {
    /// For plain work: statements commit one by one.
    plain: Arc<Mutex<SqliteConnection>>,
    /// Where each outermost scope takes its connection from; `None` for a database made of one
    /// connection, which scopes then take in turn (plain work waits for them).
    for_scopes: Option<SqlitePool>,
    /// Tells this database's connection apart from others' in a scope.
    key: u64,
    savepoints: AtomicU64,
}

/// The connection an outermost scope holds, and the scopes nested in it share.
type ScopeConnection = Arc<Mutex<Leased>>;

enum Leased {
    Pooled(PoolConnection<Sqlite>),
    Only(OwnedMutexGuard<SqliteConnection>),
}

/// A connection handed out by [`Database::connection`] or [`Database::savepoint`]: use it as a
/// `SqliteConnection` (`&mut *conn`), and drop it once done.
pub struct DbConnection(Held);

enum Held {
    Plain(OwnedMutexGuard<SqliteConnection>),
    InScope(OwnedMutexGuard<Leased>),
}

impl Deref for Leased {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        match self {
            Leased::Pooled(connection) => connection,
            Leased::Only(connection) => connection,
        }
    }
}

impl DerefMut for Leased {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self {
            Leased::Pooled(connection) => connection,
            Leased::Only(connection) => connection,
        }
    }
}

impl Deref for DbConnection {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        match &self.0 {
            Held::Plain(connection) => connection,
            Held::InScope(leased) => leased,
        }
    }
}

impl DerefMut for DbConnection {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match &mut self.0 {
            Held::Plain(connection) => connection,
            Held::InScope(leased) => leased,
        }
    }
}

static NEXT_KEY: AtomicU64 = AtomicU64::new(0);

impl Database {
    /// Connects to `url` (`sqlite://path/to/file.db`, `sqlite::memory:`): one connection for
    /// plain work, and a pool from which each outermost scope takes one (an in-memory database is
    /// shared by them all).
    ///
    /// # Errors
    ///
    /// What sqlx reports: a file that cannot be opened, a malformed URL.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::from_str(url)?;
        let plain = options.connect().await?;
        let for_scopes = SqlitePoolOptions::new().connect_lazy_with(options);
        Ok(Self::with(plain, Some(for_scopes)))
    }

    /// Wraps an open connection: scopes take it one at a time, and plain work waits for them.
    pub fn new(connection: SqliteConnection) -> Self {
        Self::with(connection, None)
    }

    fn with(plain: SqliteConnection, for_scopes: Option<SqlitePool>) -> Self {
        Self {
            plain: Arc::new(Mutex::new(plain)),
            for_scopes,
            key: NEXT_KEY.fetch_add(1, Ordering::Relaxed),
            savepoints: AtomicU64::new(0),
        }
    }

    /// The connection for work outside any scope (it commits statement by statement). Inside a
    /// scope that already holds a connection of this database, that one, so as not to wait for
    /// the scope's own transaction.
    pub async fn connection(&self) -> DbConnection {
        let held = self
            .scope_connection()
            .and_then(|connection| connection.get().cloned());
        match held {
            Some(connection) => DbConnection(Held::InScope(connection.lock_owned().await)),
            None => DbConnection(Held::Plain(Arc::clone(&self.plain).lock_owned().await)),
        }
    }

    /// Opens a savepoint in the current atomic scope and returns the connection: what is done
    /// with it is rolled back with the scope, and committed when the outermost scope commits.
    /// Outside any scope it is reported at WARN and the plain connection is returned.
    ///
    /// # Errors
    ///
    /// The error of taking a connection from the pool, or of the `SAVEPOINT` statement.
    pub async fn savepoint(&self) -> Result<DbConnection, sqlx::Error> {
        let Some(slot) = self.scope_connection() else {
            tracing::event!(
                name: "atomic.sql_outside_scope",
                target: "resilient",
                Level::WARN,
                correlation_id = crate::correlation::field(),
                "a savepoint was asked for outside any atomic scope: statements commit one by one"
            );
            return Ok(DbConnection(Held::Plain(
                Arc::clone(&self.plain).lock_owned().await,
            )));
        };
        let shared = Arc::clone(slot.get_or_try_init(|| self.lease()).await?);
        let connection = Arc::clone(&shared).lock_owned().await;
        let name = format!(
            "resilient_{}",
            self.savepoints.fetch_add(1, Ordering::Relaxed)
        );
        let mut held = DbConnection(Held::InScope(connection));
        execute(&mut held, &format!("SAVEPOINT {name}")).await?;
        let undo = format!("ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}");
        on_rollback_async(move || finish(shared, undo, false));
        Ok(held)
    }

    /// The slot of this database's connection in the outermost scope around this code, if any.
    fn scope_connection(&self) -> Option<Arc<OnceCell<ScopeConnection>>> {
        outermost_value(self.key, Arc::default)
    }

    /// Takes a connection for the outermost scope, and registers ending its transaction when that
    /// scope ends: by then every savepoint opened on it, even one whose statement was cancelled
    /// before it was confirmed, is committed or rolled back with the scope, and the connection
    /// goes back with no transaction open.
    async fn lease(&self) -> Result<ScopeConnection, sqlx::Error> {
        let leased = match &self.for_scopes {
            Some(pool) => Leased::Pooled(pool.acquire().await?),
            None => Leased::Only(Arc::clone(&self.plain).lock_owned().await),
        };
        let connection = Arc::new(Mutex::new(leased));
        let (undo, commit) = (Arc::clone(&connection), Arc::clone(&connection));
        // `SAVEPOINT` first makes sure there is a transaction to end (it opens one if none is).
        on_outermost_end(
            move || finish(undo, "SAVEPOINT resilient_end; ROLLBACK".into(), true),
            move || finish(commit, "SAVEPOINT resilient_end; COMMIT".into(), true),
        );
        Ok(connection)
    }
}

/// Runs the statement that ends a savepoint or a transaction; a failure is reported at ERROR
/// (critical where the transaction may stay open: a pooled connection is then closed rather than
/// reused, which rolls it back).
async fn finish(connection: ScopeConnection, statement: String, ending: bool) {
    let mut connection = connection.lock_owned().await;
    if let Err(error) = execute(&mut connection, &statement).await {
        tracing::event!(
            name: "atomic.sql_failed",
            target: "resilient",
            Level::ERROR,
            correlation_id = crate::correlation::field(),
            critical = ending,
            statement,
            error = %error,
            "`{statement}` failed: {error}"
        );
        if let (true, Leased::Pooled(pooled)) = (ending, &mut *connection) {
            pooled.close_on_drop();
        }
    }
}

/// Runs `sql` (one statement or several). Through `Executor::execute`, whose boxed future is
/// `Send` as written: an `async` block awaiting `raw_sql(..).execute(..)` fails its `Send` proof
/// (rust-lang/rust#102211).
async fn execute(connection: &mut SqliteConnection, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::Executor::execute(connection, sql).await.map(drop)
}
