//! A configuration update that writes two files and changes in-memory state in one `#[atomic]`
//! function, fails half-way, and leaves everything as it was.
//!
//! Run it with `cargo run --example atomic_config`.

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
    Invalid(String),
}

impl std::fmt::Display for UpdateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpdateError::Io(e) => write!(f, "cannot write the configuration: {e}"),
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

impl From<std::io::Error> for UpdateError {
    fn from(e: std::io::Error) -> Self {
        UpdateError::Io(e)
    }
}

/// Writes the new configuration, then validates it; a failed validation undoes the writes and the
/// in-memory change.
#[resilient::atomic]
async fn apply(
    dir: &Path,
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
    on_rollback(|| println!("  (rolling back: files and memory go back)"));

    if let Some(bad) = upstreams.iter().find(|u| !u.contains(':')) {
        return Err(UpdateError::Invalid(format!("`{bad}` has no port")));
    }
    Ok(())
}

fn show(dir: &Path, routing: &Arc<Mutex<Routing>>) {
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .unwrap_or_default()
            .replace('\n', ",")
    };
    println!(
        "  upstreams.conf = [{}], version = {}, in memory = {:?}",
        read("upstreams.conf"),
        read("version"),
        routing.lock().unwrap().upstreams
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let dir = std::env::temp_dir().join(format!("resilient-atomic-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("upstreams.conf"), "a:80\nb:80")?;
    std::fs::write(dir.join("version"), "1")?;
    let routing = Arc::new(Mutex::new(Routing {
        upstreams: vec!["a:80".into(), "b:80".into()],
    }));

    println!("before:");
    show(&dir, &routing);

    println!("\nupdate to [c:80, d] (d has no port):");
    match apply(&dir, &routing, &["c:80", "d"]).await {
        Ok(()) => println!("  => applied"),
        Err(e) => println!("  => {e}"),
    }
    println!("after the failed update:");
    show(&dir, &routing);
    assert_eq!(std::fs::read_to_string(dir.join("version"))?, "1");

    println!("\nupdate to [c:80, d:80]:");
    apply(&dir, &routing, &["c:80", "d:80"])
        .await
        .map_err(std::io::Error::other)?;
    println!("  => applied");
    show(&dir, &routing);

    std::fs::remove_dir_all(&dir)
}
