// `#[timeout(EXPR)]`: a limit known only at run time, read from `self` or computed.
#![deny(warnings)]

use resilient::{timeout, Rejected};
use std::time::Duration;

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

pub struct Client {
    limit: Duration,
}

impl Client {
    #[timeout(self.limit)]
    pub async fn get(&self, id: u64) -> Result<u64, Error> {
        Ok(id)
    }
}

#[timeout(Duration::from_millis(250 * attempts))]
pub async fn fetch(attempts: u64) -> Result<u64, Error> {
    Ok(attempts)
}

fn main() {}
