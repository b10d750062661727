// An annotated async function's future is `Send` when its body is: it can be spawned.
#![deny(warnings)]

use resilient::{circuit_breaker, fallback, retry, timeout, Rejected};
use std::time::Duration;

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

fn assert_send<T: Send>(_: T) {}

async fn cached(_err: Error) -> Result<u64, Error> {
    Ok(0)
}

#[fallback(cached)]
#[retry(max_attempts = 3, when = |_err| true)]
#[circuit_breaker(failure_threshold = 3)]
#[timeout("1s")]
pub async fn fetch(id: u64) -> Result<u64, Error> {
    Ok(id)
}

pub struct Client {
    limit: Duration,
}

impl Client {
    #[retry(max_attempts = 2)]
    #[timeout(self.limit)]
    pub async fn get(&self, id: &str) -> Result<usize, Error> {
        Ok(id.len())
    }
}

fn main() {
    assert_send(fetch(1));
    let client = Client { limit: Duration::from_secs(1) };
    assert_send(client.get("id"));
}
