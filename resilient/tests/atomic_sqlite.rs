//! Database writes through savepoints commit or roll back with the atomic scope, together with
//! file writes (needs the `sqlite` feature: `cargo test -p resilient --features sqlite`).

mod common;

use resilient::atomic;
use resilient::atomic::sql::Database;
use resilient::fs::write_atomic;
use std::path::Path;

/// A database file with one table, and a second connection to read it as another process would.
async fn database(dir: &Path) -> (Database, Database) {
    let url = format!("sqlite://{}?mode=rwc", dir.join("app.db").display());
    let db = Database::connect(&url).await.unwrap();
    sqlx::raw_sql("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT)")
        .execute(&mut *db.connection().await)
        .await
        .unwrap();
    let reader = Database::connect(&url).await.unwrap();
    (db, reader)
}

async fn settings(reader: &Database) -> Vec<(String, String)> {
    sqlx::query_as("SELECT key, value FROM settings ORDER BY key")
        .fetch_all(&mut *reader.connection().await)
        .await
        .unwrap()
}

/// What went wrong: a database or file error (as text), or the value was refused.
#[derive(Debug, PartialEq)]
enum Error {
    Failed(String),
    Invalid,
}
impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Failed(e.to_string())
    }
}
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Failed(e.to_string())
    }
}

#[atomic]
async fn set(db: &Database, dir: &Path, key: &str, value: &str) -> Result<(), Error> {
    let mut conn = db.savepoint().await?;
    sqlx::query("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)")
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
    let dir = common::temp_dir("sqlite-together");
    let (db, reader) = database(&dir).await;
    set(&db, &dir, "port", "8080").await.unwrap();
    assert_eq!(
        settings(&reader).await,
        [("port".into(), "8080".into())],
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
        [("port".into(), "8080".into())],
        "the row is back"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("port.conf")).unwrap(),
        "8080",
        "and so is the file"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[atomic]
async fn migrate(db: &Database, dir: &Path, fail: bool) -> Result<(), Error> {
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
    let dir = common::temp_dir("sqlite-nested");
    let (db, reader) = database(&dir).await;
    assert!(migrate(&db, &dir, true).await.is_err());
    assert!(
        settings(&reader).await.is_empty(),
        "the committed savepoints rolled back with the outer function"
    );
    assert!(!dir.join("schema.conf").exists() && !dir.join("host.conf").exists());

    migrate(&db, &dir, false).await.unwrap();
    let expected: Vec<(String, String)> = vec![
        ("host".into(), "db.internal".into()),
        ("schema".into(), "2".into()),
    ];
    assert_eq!(settings(&reader).await, expected);
    std::fs::remove_dir_all(&dir).unwrap();
}

async fn insert_plain(db: &Database, key: &str) {
    sqlx::query("INSERT INTO settings (key, value) VALUES (?, 'plain')")
        .bind(key)
        .execute(&mut *db.connection().await)
        .await
        .unwrap();
}

#[tokio::test]
async fn concurrent_scopes_never_undo_each_others_rows_nor_plain_writes() {
    use std::sync::Arc;
    use tokio::sync::Notify;
    let dir = common::temp_dir("sqlite-concurrent");
    let (db, reader) = database(&dir).await;
    let notify = || Arc::new(Notify::new());
    let (wrote_for_committing, wrote_for_plain) = (notify(), notify());
    let (committing_started, plain_started) = (notify(), notify());
    // Opens its savepoint first, then fails once both others are under way.
    let failing = atomic::scope(async {
        let mut conn = db.savepoint().await?;
        sqlx::query("INSERT INTO settings (key, value) VALUES ('failing', '1')")
            .execute(&mut *conn)
            .await?;
        drop(conn);
        wrote_for_committing.notify_one();
        wrote_for_plain.notify_one();
        committing_started.notified().await;
        plain_started.notified().await;
        Err::<(), Error>(Error::Invalid)
    });
    let committing = atomic::scope(async {
        wrote_for_committing.notified().await;
        let mut conn = db.savepoint().await?;
        committing_started.notify_one();
        sqlx::query("INSERT INTO settings (key, value) VALUES ('committing', '1')")
            .execute(&mut *conn)
            .await?;
        Ok::<(), Error>(())
    });
    let plain = async {
        wrote_for_plain.notified().await;
        let mut conn = db.connection().await;
        plain_started.notify_one();
        sqlx::query("INSERT INTO settings (key, value) VALUES ('plain', '1')")
            .execute(&mut *conn)
            .await
            .unwrap();
    };
    let (failed, committed, ()) = tokio::join!(failing, committing, plain);
    assert_eq!(failed, Err(Error::Invalid));
    assert_eq!(committed, Ok(()));
    let expected: Vec<(String, String)> = vec![
        ("committing".into(), "1".into()),
        ("plain".into(), "1".into()),
    ];
    assert_eq!(
        settings(&reader).await,
        expected,
        "only the failed scope's row is gone"
    );
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
    let dir = common::temp_dir("sqlite-cancelled");
    let (db, reader) = database(&dir).await;
    for polls in 1..=6 {
        // The savepoint alone is cancelled; its scope commits.
        let result: Result<(), Error> = atomic::scope(async {
            poll_then_drop(db.savepoint(), polls).await;
            Ok(())
        })
        .await;
        assert_eq!(result, Ok(()));
        // The whole scope is cancelled while its savepoint is under way.
        poll_then_drop(
            atomic::scope(async {
                let _conn = db.savepoint().await?;
                std::future::pending::<Result<(), Error>>().await
            }),
            polls,
        )
        .await;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        let plain = format!("plain {polls}");
        insert_plain(&db, &plain).await;
        let next = format!("next {polls}");
        set(&db, &dir, &next, "1").await.unwrap();
        let rows = settings(&reader).await;
        assert!(
            rows.contains(&(plain.clone(), "plain".into())) && rows.contains(&(next, "1".into())),
            "after {polls} poll(s): plain writes and the next scope are committed: {rows:?}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn on_a_single_connection_scopes_take_turns_and_plain_writes_wait_for_them() {
    use sqlx::Connection;
    let dir = common::temp_dir("sqlite-single");
    let (_, reader) = database(&dir).await;
    let url = format!("sqlite://{}", dir.join("app.db").display());
    let db = Database::new(sqlx::SqliteConnection::connect(&url).await.unwrap());
    let failing = atomic::scope(async {
        let mut conn = db.savepoint().await?;
        sqlx::query("INSERT INTO settings (key, value) VALUES ('failing', '1')")
            .execute(&mut *conn)
            .await?;
        drop(conn);
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
    let expected: Vec<(String, String)> = vec![
        ("committing".into(), "1".into()),
        ("plain".into(), "plain".into()),
    ];
    assert_eq!(settings(&reader).await, expected);
    std::fs::remove_dir_all(&dir).unwrap();
}
