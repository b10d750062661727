// `&self`, `&mut self` and `self` by value keep working; `self` by value without retry, which
// would need the receiver again.
#![deny(warnings)]

use resilient::{circuit_breaker, fallback, retry, timeout, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

pub struct Client {
    calls: u32,
}

impl Client {
    #[retry(max_attempts = 2)]
    #[circuit_breaker(failure_threshold = 3)]
    pub async fn get(&self, id: u64) -> Result<u64, Error> {
        Ok(id + u64::from(self.calls))
    }

    #[retry(max_attempts = 2)]
    pub async fn count(&mut self) -> Result<u32, Error> {
        self.calls += 1;
        Ok(self.calls)
    }

    #[circuit_breaker(failure_threshold = 3)]
    #[timeout("1s")]
    pub async fn close(self) -> Result<u32, Error> {
        Ok(self.calls)
    }

    #[fallback(|_err| Ok(0))]
    pub fn into_calls(self) -> Result<u32, Error> {
        Ok(self.calls)
    }
}

fn main() {
    let _ = Client { calls: 0 }.into_calls();
}
