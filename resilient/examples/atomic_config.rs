//! A configuration update that writes two files, a database row and in-memory state in one
//! `#[atomic]` function, fails half-way, and leaves everything as it was.
//!
//! Run it with `cargo run --example atomic_config --features sqlite`.

use resilient::atomic::sql::Database;
use resilient::atomic::{on_rollback, snapshot};
use resilient::fs::write_atomic;
use std::path::Path;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, PartialEq)]
struct Routing {
    upstreams: Vec<String>,
}

enum UpdateError {
    Io(std::io::Error),
    Db(sqlx::Error),
    Invalid(String),
}

impl std::fmt::Display for UpdateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpdateError::Io(e) => write!(f, "cannot write the configuration: {e}"),
            UpdateError::Db(e) => write!(f, "cannot record the configuration: {e}"),
            UpdateError::Invalid(why) => write!(f, "invalid configuration: {why}"),
        }
    }
}

impl std::error::Error for UpdateError {}

impl std::fmt::Debug for UpdateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl From<sqlx::Error> for UpdateError {
    fn from(e: sqlx::Error) -> Self {
        UpdateError::Db(e)
    }
}

impl From<std::io::Error> for UpdateError {
    fn from(e: std::io::Error) -> Self {
        UpdateError::Io(e)
    }
}

/// Writes the new configuration and records it, then validates it; a failed validation undoes the
/// writes, the row and the in-memory change.
#[resilient::atomic]
async fn apply(
    dir: &Path,
    db: &Database,
    routing: &Arc<Mutex<Routing>>,
    upstreams: &[&str],
) -> Result<(), UpdateError> {
    snapshot(routing);
    routing.lock().unwrap().upstreams = upstreams.iter().map(|u| u.to_string()).collect();
    println!("  in memory: {:?}", routing.lock().unwrap().upstreams);

    write_atomic(dir.join("upstreams.conf"), upstreams.join("\n")).await?;
    println!("  wrote upstreams.conf");
    write_atomic(dir.join("version"), "2").await?;
    println!("  wrote version");
    let mut conn = db.savepoint().await?;
    sqlx::query("INSERT INTO history (upstreams) VALUES (?)")
        .bind(upstreams.join(","))
        .execute(&mut *conn)
        .await?;
    drop(conn);
    println!("  recorded the change in the history table");
    on_rollback(|| println!("  (rolling back: the row, the files and the memory go back)"));

    if let Some(bad) = upstreams.iter().find(|u| !u.contains(':')) {
        return Err(UpdateError::Invalid(format!("`{bad}` has no port")));
    }
    Ok(())
}

async fn show(dir: &Path, db: &Database, routing: &Arc<Mutex<Routing>>) -> Result<(), sqlx::Error> {
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .unwrap_or_default()
            .replace('\n', ",")
    };
    let history: Vec<String> = sqlx::query_scalar("SELECT upstreams FROM history ORDER BY id")
        .fetch_all(&mut *db.connection().await)
        .await?;
    println!(
        "  upstreams.conf = [{}], version = {}, history = {history:?}, in memory = {:?}",
        read("upstreams.conf"),
        read("version"),
        routing.lock().unwrap().upstreams
    );
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("resilient-atomic-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("upstreams.conf"), "a:80\nb:80")?;
    std::fs::write(dir.join("version"), "1")?;
    let routing = Arc::new(Mutex::new(Routing {
        upstreams: vec!["a:80".into(), "b:80".into()],
    }));
    let db = Database::connect("sqlite::memory:").await?;
    sqlx::raw_sql("CREATE TABLE history (id INTEGER PRIMARY KEY, upstreams TEXT)")
        .execute(&mut *db.connection().await)
        .await?;
    sqlx::query("INSERT INTO history (upstreams) VALUES ('a:80,b:80')")
        .execute(&mut *db.connection().await)
        .await?;

    println!("before:");
    show(&dir, &db, &routing).await?;

    println!("\nupdate to [c:80, d] (d has no port):");
    match apply(&dir, &db, &routing, &["c:80", "d"]).await {
        Ok(()) => println!("  => applied"),
        Err(e) => println!("  => {e}"),
    }
    println!("after the failed update:");
    show(&dir, &db, &routing).await?;
    assert_eq!(std::fs::read_to_string(dir.join("version"))?, "1");

    println!("\nupdate to [c:80, d:80]:");
    apply(&dir, &db, &routing, &["c:80", "d:80"])
        .await
        .map_err(std::io::Error::other)?;
    println!("  => applied");
    show(&dir, &db, &routing).await?;

    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
