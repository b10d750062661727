//! Helpers shared by the scenario tests.
#![allow(dead_code, unreachable_pub)] // each test binary uses its own part

pub mod capture;

use resilient::{Rejected, RejectedKind};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The error type of the functions under test: the dependency's own failure, or a rejection.
#[derive(Clone, Debug, PartialEq)]
pub enum TestError {
    Failed(u32),
    Rejected(Rejected),
}

impl From<Rejected> for TestError {
    fn from(r: Rejected) -> Self {
        TestError::Rejected(r)
    }
}

impl TestError {
    pub fn rejection(&self) -> Option<RejectedKind> {
        match self {
            TestError::Rejected(r) => Some(r.kind()),
            TestError::Failed(_) => None,
        }
    }
}

/// Counts invocations of a simulated dependency.
#[derive(Default)]
pub struct Calls(AtomicU32);

impl Calls {
    /// Records an invocation and returns its number, from 1.
    pub fn next(&self) -> u32 {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub fn count(&self) -> u32 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A fresh, empty directory for one test (removed first if an earlier run left it).
pub fn temp_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("resilient-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
