//! A `redis-server` of a test's or benchmark's own, on a free loopback port, for the shared
//! backend's tests (`tests/shared_redis.rs`) and benchmark (`benches/shared.rs`), which include
//! this file. `scripts/test-all` installs `redis-server` where missing.
#![allow(dead_code)] // each includer uses its own part

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback port nothing listens on (just now).
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The server, killed when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) port: u16,
}

impl Server {
    pub(crate) fn start() -> Self {
        Self::on(free_port())
    }

    pub(crate) fn on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            // `DEBUG SLEEP` makes the server slow on purpose.
            .args(["--enable-debug-command", "yes"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on the PATH (scripts/test-all installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Makes the server busy for `seconds` (`DEBUG SLEEP`), from a thread that ends with it.
    pub(crate) fn busy_for(&self, seconds: u32) -> std::thread::JoinHandle<()> {
        let port = self.port.to_string();
        std::thread::spawn(move || {
            let slept = Command::new("redis-cli")
                .args(["-p", &port, "DEBUG", "SLEEP", &seconds.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("redis-cli beside redis-server");
            assert!(slept.success(), "DEBUG SLEEP failed");
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
