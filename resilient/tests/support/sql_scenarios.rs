//! What `atomic::sql` promises on every database, as tests: `tests/atomic_sqlite.rs` and
//! `tests/atomic_postgres.rs` include this file, and each gives it, beside the include:
//!
//! - `type Db`: the database type under test;
//! - `async fn database(dir: &Path, test: &str) -> (Db, Db, String)`: a new, empty database for
//!   one test (`dir` is the test's own directory), opened twice (the second to read results back
//!   as another process would), and its URL;
//! - `async fn no_transaction_left_open(reader: &Db)`: waits, boundedly, until no scope's
//!   transaction is left open, and fails otherwise;
//! - `const WRITERS_AT_ONCE: bool`: whether two transactions may write at once (SQLite's writers
//!   wait for one another).
//!
//! The SQL is the same on both: `$1` parameters and `ON CONFLICT` upserts.

use super::{Db, WRITERS_AT_ONCE, database, no_transaction_left_open};
use crate::common;
use resilient::atomic;
use resilient::fs::write_atomic;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// A database of one test's own, with a table of settings and one of accounts.
pub(crate) struct Fixture {
    pub(crate) db: Db,
    /// A second connection, to read results back as another process would.
    pub(crate) reader: Db,
    /// The test's own directory, empty.
    pub(crate) dir: PathBuf,
    pub(crate) url: String,
}

pub(crate) async fn fixture(test: &str) -> Fixture {
    let dir = common::temp_dir(test);
    let (db, reader, url) = database(&dir, test).await;
    create_tables(&db).await;
    Fixture {
        db,
        reader,
        dir,
        url,
    }
}

pub(crate) async fn create_tables(db: &Db) {
    sqlx::raw_sql(
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT);
         CREATE TABLE accounts (name TEXT PRIMARY KEY, balance BIGINT CHECK (balance >= 0))",
    )
    .execute(&mut *db.connection().await)
    .await
    .unwrap();
}

pub(crate) async fn settings(reader: &Db) -> Vec<(String, String)> {
    sqlx::query_as("SELECT key, value FROM settings ORDER BY key")
        .fetch_all(&mut *reader.connection().await)
        .await
        .unwrap()
}

pub(crate) fn rows(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// What went wrong: a constraint the database enforced (its kind), another database or file
/// error (as text), or the value was refused.
#[derive(Debug, PartialEq)]
pub(crate) enum Error {
    Violated(String),
    Failed(String),
    Invalid,
}
impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match e.as_database_error().map(|e| e.kind()) {
            Some(
                kind @ (sqlx::error::ErrorKind::UniqueViolation
                | sqlx::error::ErrorKind::CheckViolation),
            ) => Error::Violated(format!("{kind:?}")),
            _ => Error::Failed(e.to_string()),
        }
    }
}
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Failed(e.to_string())
    }
}

#[atomic]
pub(crate) async fn set(db: &Db, dir: &Path, key: &str, value: &str) -> Result<(), Error> {
    let mut conn = db.savepoint().await?;
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(&mut *conn)
    .await?;
    drop(conn);
    write_atomic(dir.join(format!("{key}.conf")), value).await?;
    if value.is_empty() {
        return Err(Error::Invalid);
    }
    Ok(())
}

#[tokio::test]
async fn a_row_and_a_file_commit_together_and_roll_back_together() {
    let Fixture {
        db, reader, dir, ..
    } = fixture("together").await;
    set(&db, &dir, "port", "8080").await.unwrap();
    assert_eq!(
        settings(&reader).await,
        rows(&[("port", "8080")]),
        "committed: visible to another connection"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("port.conf")).unwrap(),
        "8080"
    );

    let err = set(&db, &dir, "port", "").await.unwrap_err();
    assert_eq!(err, Error::Invalid);
    assert_eq!(
        settings(&reader).await,
        rows(&[("port", "8080")]),
        "the row is back"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("port.conf")).unwrap(),
        "8080",
        "and so is the file"
    );
    no_transaction_left_open(&reader).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[atomic]
async fn migrate(db: &Db, dir: &Path, fail: bool) -> Result<(), Error> {
    set(db, dir, "schema", "2").await?;
    // A savepoint that fails: only its own row goes.
    assert!(set(db, dir, "broken", "").await.is_err());
    set(db, dir, "host", "db.internal").await?;
    if fail {
        return Err(Error::Invalid);
    }
    Ok(())
}

#[tokio::test]
async fn nested_functions_are_savepoints_released_only_when_the_outermost_commits() {
    let Fixture {
        db, reader, dir, ..
    } = fixture("nested").await;
    assert!(migrate(&db, &dir, true).await.is_err());
    assert!(
        settings(&reader).await.is_empty(),
        "the committed savepoints rolled back with the outer function"
    );
    assert!(!dir.join("schema.conf").exists() && !dir.join("host.conf").exists());

    migrate(&db, &dir, false).await.unwrap();
    assert_eq!(
        settings(&reader).await,
        rows(&[("host", "db.internal"), ("schema", "2")]),
        "the failed savepoint's row alone is gone"
    );
    assert!(!dir.join("broken.conf").exists());
    no_transaction_left_open(&reader).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Inserts a new setting: fails where the key exists (and, on PostgreSQL, aborts the
/// transaction until a rollback to a savepoint).
#[atomic]
pub(crate) async fn add(db: &Db, key: &str, value: &str) -> Result<(), Error> {
    let mut conn = db.savepoint().await?;
    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2)")
        .bind(key)
        .bind(value)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_statement_failing_in_a_nested_scope_leaves_the_outer_scope_usable() {
    let Fixture {
        db, reader, dir, ..
    } = fixture("failed_statement").await;
    let outer = atomic::scope(async {
        add(&db, "schema", "2").await?;
        assert_eq!(
            add(&db, "schema", "3").await,
            Err(Error::Violated("UniqueViolation".into()))
        );
        add(&db, "host", "db.internal").await?;
        Ok::<(), Error>(())
    });
    assert_eq!(outer.await, Ok(()));
    assert_eq!(
        settings(&reader).await,
        rows(&[("host", "db.internal"), ("schema", "2")])
    );
    no_transaction_left_open(&reader).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Moves `amount` from one account to another: verifies, applies in nested savepoints, verifies
/// again. All or nothing.
#[atomic]
async fn transfer(db: &Db, from: &str, to: &str, amount: i64) -> Result<(), Error> {
    let before = total(db).await?;
    deposit(db, from, -amount).await?;
    deposit(db, to, amount).await?;
    if total(db).await? != before {
        return Err(Error::Invalid);
    }
    Ok(())
}

/// Fails (the `CHECK`) where the balance would go below zero; changes nothing for an unknown
/// account.
#[atomic]
async fn deposit(db: &Db, name: &str, amount: i64) -> Result<(), Error> {
    let mut conn = db.savepoint().await?;
    sqlx::query("UPDATE accounts SET balance = balance + $2 WHERE name = $1")
        .bind(name)
        .bind(amount)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn total(db: &Db) -> Result<i64, Error> {
    let mut conn = db.savepoint().await?;
    let sum = "SELECT CAST(COALESCE(SUM(balance), 0) AS BIGINT) FROM accounts";
    Ok(sqlx::query_scalar(sum).fetch_one(&mut *conn).await?)
}

async fn accounts(reader: &Db) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT name, balance FROM accounts ORDER BY name")
        .fetch_all(&mut *reader.connection().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn verify_apply_verify_commits_all_or_nothing() {
    let Fixture {
        db, reader, dir, ..
    } = fixture("transfer").await;
    sqlx::raw_sql("INSERT INTO accounts VALUES ('ada', 100), ('bob', 0)")
        .execute(&mut *db.connection().await)
        .await
        .unwrap();
    let balances = |ada: i64, bob: i64| vec![("ada".to_string(), ada), ("bob".to_string(), bob)];

    transfer(&db, "ada", "bob", 30).await.unwrap();
    assert_eq!(accounts(&reader).await, balances(70, 30));

    // The credit finds no account: the check after it fails, and the debit is undone.
    assert_eq!(
        transfer(&db, "ada", "nobody", 20).await,
        Err(Error::Invalid)
    );
    assert_eq!(accounts(&reader).await, balances(70, 30));

    // The debit breaks the `CHECK`: its savepoint rolls back, and the transfer with it.
    assert_eq!(
        transfer(&db, "ada", "bob", 500).await,
        Err(Error::Violated("CheckViolation".into()))
    );
    assert_eq!(accounts(&reader).await, balances(70, 30));

    transfer(&db, "bob", "ada", 30).await.unwrap();
    assert_eq!(accounts(&reader).await, balances(100, 0));
    no_transaction_left_open(&reader).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[atomic]
async fn set_then_panic(db: &Db, key: &str) -> Result<(), Error> {
    let mut conn = db.savepoint().await?;
    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, 'panicked')")
        .bind(key)
        .execute(&mut *conn)
        .await?;
    drop(conn);
    panic!("the function panics after its write");
}

#[tokio::test]
async fn a_panic_rolls_back_and_releases_what_it_locked() {
    let Fixture {
        db, reader, dir, ..
    } = fixture("panic").await;
    let db = Arc::new(db);
    let panicking = {
        let db = db.clone();
        tokio::spawn(async move { set_then_panic(&db, "port").await })
    };
    assert!(panicking.await.unwrap_err().is_panic());
    no_transaction_left_open(&reader).await;
    assert!(settings(&reader).await.is_empty());
    // The same key again: a transaction left open would hold its lock, and this would wait.
    tokio::time::timeout(Duration::from_secs(10), set(&db, &dir, "port", "8080"))
        .await
        .expect("the panicked scope's lock is released")
        .unwrap();
    assert_eq!(settings(&reader).await, rows(&[("port", "8080")]));
    std::fs::remove_dir_all(&dir).unwrap();
}

async fn insert_plain(db: &Db, key: &str) {
    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, 'plain')")
        .bind(key)
        .execute(&mut *db.connection().await)
        .await
        .unwrap();
}

#[tokio::test]
async fn concurrent_scopes_never_undo_each_others_rows_nor_plain_writes() {
    let Fixture {
        db, reader, dir, ..
    } = fixture("concurrent").await;
    let notify = || Arc::new(Notify::new());
    let (wrote_for_committing, wrote_for_plain) = (notify(), notify());
    // Under way: has written, where transactions write at once; else about to (its write then
    // waits for the failing scope to end).
    let (committing_under_way, plain_under_way) = (notify(), notify());
    // Opens its savepoint and writes first, then fails once both others are under way.
    let failing = atomic::scope(async {
        add(&db, "failing", "1").await?;
        wrote_for_committing.notify_one();
        wrote_for_plain.notify_one();
        committing_under_way.notified().await;
        plain_under_way.notified().await;
        Err::<(), Error>(Error::Invalid)
    });
    let committing = atomic::scope(async {
        wrote_for_committing.notified().await;
        let mut conn = db.savepoint().await?;
        if !WRITERS_AT_ONCE {
            committing_under_way.notify_one();
        }
        sqlx::query("INSERT INTO settings (key, value) VALUES ('committing', '1')")
            .execute(&mut *conn)
            .await?;
        if WRITERS_AT_ONCE {
            committing_under_way.notify_one();
        }
        Ok::<(), Error>(())
    });
    let plain = async {
        wrote_for_plain.notified().await;
        let mut conn = db.connection().await;
        if !WRITERS_AT_ONCE {
            plain_under_way.notify_one();
        }
        sqlx::query("INSERT INTO settings (key, value) VALUES ('plain', '1')")
            .execute(&mut *conn)
            .await
            .unwrap();
        if WRITERS_AT_ONCE {
            plain_under_way.notify_one();
        }
    };
    let (failed, committed, ()) = tokio::join!(failing, committing, plain);
    assert_eq!(failed, Err(Error::Invalid));
    assert_eq!(committed, Ok(()));
    assert_eq!(
        settings(&reader).await,
        rows(&[("committing", "1"), ("plain", "1")]),
        "only the failed scope's row is gone"
    );
    no_transaction_left_open(&reader).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Polls `fut` up to `polls` times, letting the runtime run in between, then drops it.
async fn poll_then_drop<F: std::future::Future>(fut: F, polls: usize) {
    let mut fut = std::pin::pin!(fut);
    for _ in 0..polls {
        let polled = std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await;
        if polled.is_ready() {
            return;
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_savepoint_cancelled_at_any_point_leaves_no_transaction_open() {
    let Fixture {
        db, reader, dir, ..
    } = fixture("cancelled").await;
    for polls in 1..=8 {
        // The savepoint alone is cancelled; its scope commits.
        let result: Result<(), Error> = atomic::scope(async {
            poll_then_drop(db.savepoint(), polls).await;
            Ok(())
        })
        .await;
        assert_eq!(result, Ok(()));
        // The whole scope is cancelled, before or after it has written.
        let key = format!("cancelled {polls}");
        poll_then_drop(
            atomic::scope(async {
                add(&db, &key, "1").await?;
                std::future::pending::<Result<(), Error>>().await
            }),
            polls,
        )
        .await;
        no_transaction_left_open(&reader).await;
        let plain = format!("plain {polls}");
        insert_plain(&db, &plain).await;
        let next = format!("next {polls}");
        set(&db, &dir, &next, "1").await.unwrap();
        let rows = settings(&reader).await;
        assert!(
            rows.contains(&(plain.clone(), "plain".into()))
                && rows.contains(&(next, "1".into()))
                && !rows.iter().any(|(key, _)| key.starts_with("cancelled")),
            "after {polls} poll(s): plain writes and the next scope are committed, the cancelled \
             scope's row is not: {rows:?}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn on_a_single_connection_scopes_take_turns_and_plain_writes_wait_for_them() {
    let Fixture {
        reader, dir, url, ..
    } = fixture("single").await;
    let db = Db::new(sqlx::Connection::connect(&url).await.unwrap());
    let failing = atomic::scope(async {
        add(&db, "failing", "1").await?;
        for _ in 0..5 {
            tokio::task::yield_now().await;
        }
        Err::<(), Error>(Error::Invalid)
    });
    let committing = atomic::scope(async {
        drop(db.savepoint().await?);
        // Inside the scope, the plain connection is the scope's: it does not wait for itself.
        sqlx::query("INSERT INTO settings (key, value) VALUES ('committing', '1')")
            .execute(&mut *db.connection().await)
            .await?;
        Ok::<(), Error>(())
    });
    let (failed, committed, ()) = tokio::join!(failing, committing, insert_plain(&db, "plain"));
    assert_eq!((failed, committed), (Err(Error::Invalid), Ok(())));
    assert_eq!(
        settings(&reader).await,
        rows(&[("committing", "1"), ("plain", "plain")])
    );
    no_transaction_left_open(&reader).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_malformed_url_is_an_error() {
    for url in ["::not a url::", "postgres://[::1", "sqlite://\0"] {
        assert!(Db::connect(url).await.is_err(), "{url:?}");
    }
}

/// The `database` health check: healthy while the database answers `SELECT 1`; while its plain
/// connection is held by other work, the check waits for it and fails at its own timeout.
#[tokio::test]
async fn the_database_health_check_answers_under_its_timeout() {
    use resilient::health::{self, HealthChecks, Status};
    use std::sync::Arc;
    use std::time::Duration;
    let Fixture { db, dir, .. } = fixture("health").await;
    let db = Arc::new(db);
    let checks = HealthChecks::new().add(
        "database",
        Duration::from_millis(200),
        health::database(Arc::clone(&db)),
    );
    let report = checks.run().await;
    let check = &report.checks()[0];
    assert_eq!(
        (check.status(), check.message()),
        (Status::Healthy, "database answers `SELECT 1`")
    );
    let busy = db.connection().await;
    let report = checks.run().await;
    let check = &report.checks()[0];
    assert_eq!(
        (check.status(), check.message()),
        (Status::Unhealthy, "timed out after 200ms")
    );
    drop(busy);
    assert_eq!(checks.run().await.status(), Status::Healthy);
    std::fs::remove_dir_all(&dir).unwrap();
}
