//! Database writes through PostgreSQL savepoints commit or roll back with the atomic scope,
//! together with file writes (needs the `postgres` feature: `cargo test -p resilient --features
//! postgres --test atomic_postgres`). The tests of every database, in `support/sql_scenarios.rs`,
//! then PostgreSQL's own: an aborted transaction, a server killed. They share one server of
//! their own on loopback (see `support/postgres_server.rs`), each test with a database of its
//! own.

mod common;
#[path = "support/postgres_server.rs"]
mod postgres_server;
#[path = "support/sql_scenarios.rs"]
mod scenarios;

use postgres_server::Server;
use resilient::atomic;
use resilient::atomic::sql::PgDatabase;
use scenarios::{Error, Fixture, fixture, rows, set, settings};
use sqlx::Connection;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

type Db = PgDatabase;

/// Transactions write at once, each waiting only for the rows another holds.
const WRITERS_AT_ONCE: bool = true;

/// The server of this test binary, stopped when the binary exits.
fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(Server::start)
}

/// A new database named `test` on the shared server, and a second connection to read it.
async fn database(_dir: &Path, test: &str) -> (Db, Db, String) {
    database_on(server(), test).await
}

async fn database_on(server: &Server, name: &str) -> (Db, Db, String) {
    let mut admin = sqlx::PgConnection::connect(&server.url("postgres"))
        .await
        .unwrap();
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = server.url(name);
    let db = PgDatabase::connect(&url).await.unwrap();
    let reader = PgDatabase::connect(&url).await.unwrap();
    (db, reader, url)
}

/// Waits, a few seconds at most, until no other session of the database is inside a transaction:
/// every scope that ended has committed or rolled back, rollbacks spawned after a panic or a
/// cancellation included.
async fn no_transaction_left_open(reader: &Db) {
    let mut open: Vec<String> = Vec::new();
    for _ in 0..500 {
        open = sqlx::query_scalar(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database() \
             AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'",
        )
        .fetch_all(&mut *reader.connection().await)
        .await
        .unwrap();
        if open.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("sessions left inside a transaction, their last statements: {open:?}");
}

#[tokio::test]
async fn a_statement_error_ignored_where_it_aborted_the_transaction_commits_nothing() {
    let Fixture {
        db, reader, dir, ..
    } = fixture("ignored_error").await;
    let (capture, stop) = common::capture::Capture::start();
    let result = atomic::scope(async {
        let mut conn = db.savepoint().await?;
        sqlx::query("INSERT INTO settings (key, value) VALUES ('kept', '1')")
            .execute(&mut *conn)
            .await?;
        let ignored = sqlx::query("INSERT INTO settings (key, value) VALUES ('kept', '2')")
            .execute(&mut *conn)
            .await;
        assert!(ignored.is_err());
        Ok::<(), Error>(())
    })
    .await;
    drop(stop);
    assert_eq!(result, Ok(()), "the function's value stands");
    let failed: Vec<_> = capture
        .take()
        .into_iter()
        .filter(|event| event.name == "atomic.sql_failed")
        .collect();
    assert!(
        matches!(&failed[..], [event] if event.level == tracing::Level::ERROR
            && common::capture::field(event, "critical") == "true"
            && common::capture::field(event, "error").contains("transaction is aborted")),
        "the commit that could not be is reported: {failed:?}"
    );
    assert!(
        settings(&reader).await.is_empty(),
        "the aborted transaction is rolled back whole"
    );
    no_transaction_left_open(&reader).await;
    set(&db, &dir, "next", "1").await.unwrap();
    assert_eq!(settings(&reader).await, rows(&[("next", "1")]));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_server_killed_mid_scope_gives_an_error_and_commits_nothing_of_it() {
    let dir = common::temp_dir("killed");
    // A server of this test's own, to kill.
    let mut server = Server::start();
    let (db, reader, url) = database_on(&server, "killed").await;
    scenarios::create_tables(&db).await;
    set(&db, &dir, "before", "1").await.unwrap();
    let result = atomic::scope(async {
        // A nested scope commits into this one, which then loses its connection.
        set(&db, &dir, "schema", "2").await?;
        server.crash();
        set(&db, &dir, "host", "db.internal").await
    })
    .await;
    assert!(
        matches!(&result, Err(Error::Failed(_))),
        "an error value: {result:?}"
    );
    let plain = sqlx::query("SELECT 1")
        .execute(&mut *db.connection().await)
        .await;
    assert!(plain.is_err(), "the plain connection is lost too");
    drop(reader);

    server.restart();
    let reader = PgDatabase::connect(&url).await.unwrap();
    assert_eq!(
        settings(&reader).await,
        rows(&[("before", "1")]),
        "nothing of the killed scope, its nested scope's row included"
    );
    // The pool replaces the connections it lost: scopes work again.
    set(&db, &dir, "after", "1").await.unwrap();
    assert_eq!(
        settings(&reader).await,
        rows(&[("after", "1"), ("before", "1")])
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
