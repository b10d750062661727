//! A PostgreSQL server of a test binary's own, on a free loopback port, for
//! `tests/atomic_postgres.rs`, which includes this file. `scripts/test-all` installs PostgreSQL
//! where missing.
//!
//! The server runs under a small shell that reads its standard input, a pipe from this process.
//! The pipe closes when this process ends, however it ends (a server kept in a static is never
//! dropped), and the shell then stops the server and removes its directory: no server outlives
//! the tests. `initdb` and `postgres` refuse to run as root: as root, both run as the `postgres`
//! user, or else `nobody`, owner of the server's directory.

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Stops the server (`$1`: the directory; the rest: its command line) once a line or the end of
/// the input comes: `crash` stops it at once as a crash would (SIGQUIT, recovery at the next
/// start) and keeps the directory; anything else shuts it down (SIGINT) and removes the
/// directory. While the shell waits for the server, its process id cannot be reused. The shell
/// ignores the signals that end a whole process group (Ctrl-C, `timeout`), so as to clean up
/// after the server stops (which they stop too).
const WRAPPER: &str = r#"
trap '' HUP INT TERM
dir=$1; shift
"$@" </dev/null >>"$dir/postgres.log" 2>&1 &
server=$!
read -r how
if [ "$how" = crash ]; then kill -QUIT "$server"; else kill -INT "$server"; fi
wait "$server"
[ "$how" = crash ] || rm -rf "$dir"
"#;

/// How long starting or stopping may take (initdb included).
const PATIENCE: Duration = Duration::from_secs(60);

/// A server and its directory, both gone when dropped.
pub(crate) struct Server {
    dir: PathBuf,
    bin: PathBuf,
    /// The unprivileged user and group to run as, when this process is root.
    user: Option<(u32, u32)>,
    pub(crate) port: u16,
    /// The shell and the pipe to it, while the server runs.
    running: Option<(Child, ChildStdin)>,
}

impl Server {
    /// A new cluster (superuser `postgres`, no password on loopback) and its server, running.
    pub(crate) fn start() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "resilient-postgres-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let user = (std::fs::metadata(&dir).unwrap().uid() == 0).then(unprivileged_user);
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
        }
        let mut server = Self {
            bin: bin_dir(),
            dir,
            user,
            port: TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .unwrap()
                .port(),
            running: None,
        };
        let initdb = server
            .command(&server.bin.join("initdb"))
            .arg("--pgdata")
            .arg(server.data())
            .args(["--username=postgres", "--auth=trust", "--encoding=UTF8"])
            .args(["--locale=C", "--no-sync"])
            .output()
            .expect("running initdb");
        assert!(
            initdb.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&initdb.stdout),
            String::from_utf8_lossy(&initdb.stderr)
        );
        server.run();
        server
    }

    /// The URL of `database` on this server.
    pub(crate) fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Stops the server at once, as a crash would (clients see their connections drop), keeping
    /// its data for [`Server::restart`].
    pub(crate) fn crash(&mut self) {
        let (mut shell, mut input) = self.running.take().expect("the server is running");
        let _ = writeln!(input, "crash");
        wait_for(&mut shell, "the crashed server to stop");
    }

    /// Starts the server again on the same data and port (it recovers from a crash first).
    pub(crate) fn restart(&mut self) {
        assert!(self.running.is_none(), "the server is running");
        self.run();
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `program`, as the unprivileged user where this process is root, in the server's directory.
    fn command(&self, program: &Path) -> Command {
        let mut command = match self.user {
            Some((uid, gid)) => {
                let mut command = Command::new("setpriv");
                command
                    .args(["--reuid", &uid.to_string(), "--regid", &gid.to_string()])
                    .args(["--clear-groups", "--"])
                    .arg(program);
                command
            }
            None => Command::new(program),
        };
        command.current_dir(&self.dir);
        command
    }

    /// Starts the server under the shell, and waits until it accepts connections.
    fn run(&mut self) {
        let mut shell = self
            .command(Path::new("sh"))
            .args(["-c", WRAPPER, "sh"])
            .arg(&self.dir)
            .arg(self.bin.join("postgres"))
            .arg("-D")
            .arg(self.data())
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(&self.dir)
            // A crash of the server, not of the machine, loses nothing without fsync; committed
            // work would be lost with `synchronous_commit=off`.
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("starting sh");
        let input = shell.stdin.take().unwrap();
        // `postmaster.pid` says `ready` once the server accepts connections.
        let deadline = Instant::now() + PATIENCE;
        let pid_file = self.data().join("postmaster.pid");
        while !std::fs::read_to_string(&pid_file).is_ok_and(|pid| pid.contains("ready")) {
            let exited = shell.try_wait().unwrap().is_some();
            assert!(
                !exited && Instant::now() < deadline,
                "postgres did not start ({}): {}",
                if exited { "it stopped" } else { "timed out" },
                std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.running = Some((shell, input));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        match self.running.take() {
            // Closing the pipe stops the server; the shell removes the directory.
            Some((mut shell, input)) => {
                drop(input);
                wait_for(&mut shell, "the server to stop");
            }
            None => drop(std::fs::remove_dir_all(&self.dir)),
        }
    }
}

/// Waits for the shell to end, at most [`PATIENCE`]; past that it is killed and this says so.
fn wait_for(shell: &mut Child, what: &str) {
    let deadline = Instant::now() + PATIENCE;
    while shell.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            eprintln!("postgres_server: gave up waiting for {what}");
            let _ = shell.kill();
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// PostgreSQL's programs: where `pg_config` says, or the newest of Debian's
/// `/usr/lib/postgresql/<version>/bin`, or the PATH.
fn bin_dir() -> PathBuf {
    let pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    debian.sort();
    let path = std::env::var_os("PATH");
    pg_config
        .into_iter()
        .chain(debian.into_iter().rev().map(|(_, bin)| bin))
        .chain(path.iter().flat_map(std::env::split_paths))
        .find(|bin| bin.join("initdb").is_file() && bin.join("postgres").is_file())
        .expect(
            "PostgreSQL's initdb and postgres, in `pg_config --bindir`, /usr/lib/postgresql/*/bin \
             or the PATH: install PostgreSQL (`apt-get install postgresql`; scripts/test-all does)",
        )
}

/// The user and group that `initdb` and `postgres` run as when this process is root.
fn unprivileged_user() -> (u32, u32) {
    let id = |flag: &str, user: &str| -> Option<u32> {
        let output = Command::new("id").args([flag, user]).output().ok()?;
        String::from_utf8_lossy(&output.stdout).trim().parse().ok()
    };
    ["postgres", "nobody"]
        .into_iter()
        .find_map(|user| Some((id("-u", user)?, id("-g", user)?)))
        .expect("a `postgres` or `nobody` user to run PostgreSQL as (it refuses root)")
}
