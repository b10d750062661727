//! Database work that commits or rolls back with the atomic scope around it, through savepoints:
//! SQLite with [`Database`] (feature `sqlite`), PostgreSQL with `PgDatabase` (feature
//! `postgres`).
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
//! # #[cfg(feature = "sqlite")]
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
//! # #[cfg(not(feature = "sqlite"))] fn main() {}
//! ```
//!
//! Each outermost scope has a connection of its own for as long as it runs (the scopes nested in
//! it share it), so concurrent scopes never undo one another's work, and plain work through
//! [`Database::connection`] never runs inside a scope's transaction. A connection handed out is
//! locked while held: release it (drop it) before calling another atomic function that uses the
//! same database, since that function's rollback needs it.
//!
//! # SQLite and PostgreSQL
//!
//! The code is the same for both: only the type and the URL differ, and the SQL where the
//! dialects do (`$1` parameters work on both). What holds for each:
//!
//! - **SQLite**: the first savepoint opens the scope's transaction. One transaction writes at a
//!   time: a writer waits for the one before it to end. A failed statement leaves the transaction
//!   usable.
//! - **PostgreSQL**: the outermost scope's transaction begins (`BEGIN`) when it takes its
//!   connection. Concurrent scopes write at once, each waiting only for rows another holds. A
//!   failed statement aborts the whole transaction until a rollback to a savepoint: a nested
//!   `#[atomic]` function that returns the statement's error rolls back to its savepoint and
//!   leaves the scope around it usable, but an error caught and ignored in the scope that opened
//!   the savepoint leaves the transaction aborted, and its commit then fails instead of
//!   committing part of the work.
//! - **Both**: a lost connection (the server stopped or killed) makes the statements return an
//!   error, and the database never commits a transaction whose connection was lost. A commit
//!   that fails once the scope's function has returned `Ok` (the connection lost at that very
//!   moment, an aborted PostgreSQL transaction) cannot change that value: it is reported at ERROR
//!   (event `atomic.sql_failed`, `critical = true`), and the transaction is rolled back whole
//!   (where the connection was lost during the `COMMIT` itself, the database may have committed
//!   it, whole: which of the two is unknown).

use super::{on_outermost_end, on_rollback_async, outermost_value};
use sqlx::pool::{PoolConnection, PoolOptions};
use sqlx::{ConnectOptions, Connection, Pool};
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Mutex, OnceCell, OwnedMutexGuard};
use tracing::Level;

#[cfg(feature = "postgres")]
use sqlx::Postgres;
#[cfg(feature = "sqlite")]
use sqlx::Sqlite;

/// A database whose work joins atomic scopes: SQLite unless said otherwise (`Database`),
/// PostgreSQL as `PgDatabase`. (Without the `sqlite` feature there is no default: name the
/// backend.)
pub struct Database<
    #[cfg(feature = "sqlite")] DB: Backend = Sqlite,
    #[cfg(not(feature = "sqlite"))] DB: Backend,
> {
    /// For plain work: statements commit one by one.
    plain: Arc<Mutex<DB::Connection>>,
    /// Where each outermost scope takes its connection from; `None` for a database made of one
    /// connection, which scopes then take in turn (plain work waits for them).
    for_scopes: Option<Pool<DB>>,
    /// Tells this database's connection apart from others' in a scope.
    key: u64,
    savepoints: AtomicU64,
}

/// A PostgreSQL database whose work joins atomic scopes (feature `postgres`).
///
/// ```no_run
/// use resilient::atomic::sql::PgDatabase;
///
/// #[resilient::atomic]
/// async fn add_user(db: &PgDatabase, name: &str) -> Result<(), sqlx::Error> {
///     let mut conn = db.savepoint().await?;
///     sqlx::query("INSERT INTO users (name) VALUES ($1)").bind(name).execute(&mut *conn).await?;
///     if name.is_empty() {
///         return Err(sqlx::Error::Protocol("a name is required".into()));
///     }
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), sqlx::Error> {
/// let db = PgDatabase::connect("postgres://app@localhost/app").await?;
/// add_user(&db, "ada").await?;
/// assert!(add_user(&db, "").await.is_err()); // its row is rolled back
/// # Ok(()) }
/// ```
#[cfg(feature = "postgres")]
pub type PgDatabase = Database<Postgres>;

/// A database [`Database`] works with: `sqlx::Sqlite` (feature `sqlite`) or `sqlx::Postgres`
/// (feature `postgres`). Sealed: what sets a transaction up differs by database and is ours to
/// get right.
pub trait Backend: private::Statements {}

impl<DB: private::Statements> Backend for DB {}

mod private {
    use super::Executed;

    /// The statements that differ from one database to another.
    pub trait Statements: sqlx::Database {
        /// Run when an outermost scope takes its connection, where a savepoint alone does not
        /// open a transaction.
        const BEGIN: Option<&'static str>;
        /// End an outermost scope's transaction, whatever state a cancelled statement left it in.
        const ROLLBACK: &'static str;
        const COMMIT: &'static str;

        /// Runs `sql` (one statement or several).
        fn execute<'c>(connection: &'c mut Self::Connection, sql: &'c str) -> Executed<'c, Self>;
    }
}

/// What [`private::Statements::execute`] returns: `sqlx::Executor::execute`'s boxed future, `Send`
/// as written (an `async` block awaiting `raw_sql(..).execute(..)` fails its `Send` proof,
/// rust-lang/rust#102211).
type Executed<'c, DB> = Pin<
    Box<dyn Future<Output = Result<<DB as sqlx::Database>::QueryResult, sqlx::Error>> + Send + 'c>,
>;

/// Implements [`private::Statements`] for one database.
macro_rules! statements {
    ($feature:literal, $db:ty, begin: $begin:expr, rollback: $rollback:expr, commit: $commit:expr) => {
        #[cfg(feature = $feature)]
        impl private::Statements for $db {
            const BEGIN: Option<&'static str> = $begin;
            const ROLLBACK: &'static str = $rollback;
            const COMMIT: &'static str = $commit;

            fn execute<'c>(
                connection: &'c mut Self::Connection,
                sql: &'c str,
            ) -> Executed<'c, Self> {
                sqlx::Executor::execute(connection, sql)
            }
        }
    };
}

// `SAVEPOINT` outside a transaction opens one: taking one first makes sure there is a transaction
// to end, even where the scope's first savepoint was cancelled before it was confirmed.
statements!("sqlite", Sqlite,
    begin: None,
    rollback: "SAVEPOINT resilient_end; ROLLBACK",
    commit: "SAVEPOINT resilient_end; COMMIT");

// `SAVEPOINT` needs a transaction. `COMMIT` of a transaction that a failed statement aborted
// rolls it back and reports success; the `SELECT` before it fails there instead, so that the lost
// work is reported.
statements!("postgres", Postgres,
    begin: Some("BEGIN"),
    rollback: "ROLLBACK",
    commit: "SELECT 1; COMMIT");

/// The connection an outermost scope holds, and the scopes nested in it share.
type ScopeConnection<DB> = Arc<Mutex<Leased<DB>>>;

enum Leased<DB: Backend> {
    Pooled(PoolConnection<DB>),
    Only(OwnedMutexGuard<DB::Connection>),
}

/// A connection handed out by [`Database::connection`] or [`Database::savepoint`]: use it as a
/// `SqliteConnection` or `PgConnection` (`&mut *conn`), and drop it once done.
pub struct DbConnection<
    #[cfg(feature = "sqlite")] DB: Backend = Sqlite,
    #[cfg(not(feature = "sqlite"))] DB: Backend,
>(Held<DB>);

enum Held<DB: Backend> {
    Plain(OwnedMutexGuard<DB::Connection>),
    InScope(OwnedMutexGuard<Leased<DB>>),
}

impl<DB: Backend> Deref for Leased<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        match self {
            Leased::Pooled(connection) => connection,
            Leased::Only(connection) => connection,
        }
    }
}

impl<DB: Backend> DerefMut for Leased<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        match self {
            Leased::Pooled(connection) => connection,
            Leased::Only(connection) => connection,
        }
    }
}

impl<DB: Backend> Deref for DbConnection<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        match &self.0 {
            Held::Plain(connection) => connection,
            Held::InScope(leased) => leased,
        }
    }
}

impl<DB: Backend> DerefMut for DbConnection<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        match &mut self.0 {
            Held::Plain(connection) => connection,
            Held::InScope(leased) => leased,
        }
    }
}

static NEXT_KEY: AtomicU64 = AtomicU64::new(0);

impl<DB: Backend> Database<DB> {
    /// Connects to `url` (`sqlite://path/to/file.db`, `sqlite::memory:`,
    /// `postgres://user@host/database`): one connection for plain work, and a pool from which each
    /// outermost scope takes one (an in-memory SQLite database is shared by them all).
    ///
    /// # Errors
    ///
    /// What sqlx reports: a malformed URL, a file that cannot be opened, a server that cannot be
    /// reached or refuses the login.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        let options: <DB::Connection as Connection>::Options = url.parse()?;
        let plain = options.connect().await?;
        let for_scopes = PoolOptions::<DB>::new().connect_lazy_with(options);
        Ok(Self::with(plain, Some(for_scopes)))
    }

    /// Wraps an open connection: scopes take it one at a time, and plain work waits for them.
    pub fn new(connection: DB::Connection) -> Self {
        Self::with(connection, None)
    }

    fn with(plain: DB::Connection, for_scopes: Option<Pool<DB>>) -> Self {
        Self {
            plain: Arc::new(Mutex::new(plain)),
            for_scopes,
            key: NEXT_KEY.fetch_add(1, Ordering::Relaxed),
            savepoints: AtomicU64::new(0),
        }
    }

    /// Runs `SELECT 1` on the connection for plain work: whether the database answers (the
    /// [`database`](crate::health::database) health check).
    ///
    /// # Errors
    ///
    /// What sqlx reports: a lost connection, a server gone.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        let mut connection = self.connection().await;
        DB::execute(&mut connection, "SELECT 1").await.map(drop)
    }

    /// The connection for work outside any scope (it commits statement by statement). Inside a
    /// scope that already holds a connection of this database, that one, so as not to wait for
    /// the scope's own transaction.
    pub async fn connection(&self) -> DbConnection<DB> {
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
    /// The error of taking a connection from the pool, or of the `BEGIN` or `SAVEPOINT`
    /// statement.
    pub async fn savepoint(&self) -> Result<DbConnection<DB>, sqlx::Error> {
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
        DB::execute(&mut held, &format!("SAVEPOINT {name}")).await?;
        let undo = format!("ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}");
        on_rollback_async(move || finish(shared, undo, false));
        Ok(held)
    }

    /// The slot of this database's connection in the outermost scope around this code, if any.
    fn scope_connection(&self) -> Option<Arc<OnceCell<ScopeConnection<DB>>>> {
        outermost_value(self.key, Arc::default)
    }

    /// Takes a connection for the outermost scope, registers ending its transaction when that
    /// scope ends, then begins it where the database needs that. By the scope's end every
    /// savepoint opened on it, even one whose statement was cancelled before it was confirmed, is
    /// committed or rolled back with the scope, and the connection goes back with no transaction
    /// open.
    async fn lease(&self) -> Result<ScopeConnection<DB>, sqlx::Error> {
        let leased = match &self.for_scopes {
            Some(pool) => Leased::Pooled(pool.acquire().await?),
            None => Leased::Only(Arc::clone(&self.plain).lock_owned().await),
        };
        let connection = Arc::new(Mutex::new(leased));
        let (undo, commit) = (Arc::clone(&connection), Arc::clone(&connection));
        // Registered before `BEGIN` is sent: a `BEGIN` cancelled half-way still gets its end.
        on_outermost_end(
            move || finish(undo, DB::ROLLBACK.into(), true),
            move || finish(commit, DB::COMMIT.into(), true),
        );
        if let Some(begin) = DB::BEGIN {
            DB::execute(&mut *connection.lock().await, begin).await?;
        }
        Ok(connection)
    }
}

/// Runs the statement that ends a savepoint or a transaction; a failure is reported at ERROR
/// (critical where it ends the transaction, which may then stay open: a pooled connection is
/// closed rather than reused, which rolls it back, and the only connection is rolled back, so
/// that plain work never runs inside it).
async fn finish<DB: Backend>(connection: ScopeConnection<DB>, statement: String, ending: bool) {
    let mut connection = connection.lock_owned().await;
    let Err(error) = DB::execute(&mut connection, &statement).await else {
        return;
    };
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
    if ending {
        match &mut *connection {
            Leased::Pooled(pooled) => pooled.close_on_drop(),
            // Fails, harmlessly, where no transaction is open.
            Leased::Only(only) => drop(DB::execute(only, "ROLLBACK").await),
        }
    }
}
