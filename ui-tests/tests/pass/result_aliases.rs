// Aliases of `Result`: `io::Result<T>` and a crate's own `AppResult<T>`.
#![deny(warnings)]

use resilient::{circuit_breaker, fallback, retry, timeout, Rejected};
use std::io;

#[derive(Debug)]
pub enum AppError {
    Rejected(Rejected),
}

impl From<Rejected> for AppError {
    fn from(rejected: Rejected) -> Self {
        AppError::Rejected(rejected)
    }
}

pub type AppResult<T> = Result<T, AppError>;

#[retry(max_attempts = 2)]
#[circuit_breaker(failure_threshold = 3)]
#[timeout("1s")]
pub async fn read(path: &str) -> io::Result<String> {
    std::fs::read_to_string(path)
}

#[circuit_breaker(failure_threshold = 3)]
pub fn read_blocking(path: &str) -> io::Result<String> {
    std::fs::read_to_string(path)
}

#[retry(max_attempts = 2)]
#[timeout("1s")]
pub async fn load(id: u64) -> AppResult<u64> {
    Ok(id)
}

#[fallback(|_err| Ok(0))]
#[circuit_breaker(failure_threshold = 3)]
pub fn load_blocking(id: u64) -> AppResult<u64> {
    Ok(id)
}

fn main() {
    let _ = read_blocking("Cargo.toml");
    let _ = load_blocking(1);
}
