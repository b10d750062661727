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

/// Polls the futures together on this task until all are done, in order of creation.
pub async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                if let std::task::Poll::Ready(value) = future.as_mut().poll(cx) {
                    *output = Some(value);
                }
            }
        }
        match outputs.iter().all(Option::is_some) {
            true => std::task::Poll::Ready(()),
            false => std::task::Poll::Pending,
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

/// Polls `future` once, with a waker that does nothing.
pub fn poll_once<F: std::future::Future>(
    future: std::pin::Pin<&mut F>,
) -> std::task::Poll<F::Output> {
    future.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}
