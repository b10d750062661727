// `breaker = &self.breaker`, `breaker = &STATIC` and `policy = &STATIC`: existing policies.
#![deny(warnings)]

use resilient::{circuit_breaker, retry, BreakerConfig, CircuitBreaker, Rejected, RetryPolicy};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

static SHARED: CircuitBreaker = CircuitBreaker::new("shared", BreakerConfig::new());
static POLICY: RetryPolicy = RetryPolicy::new().max_attempts(5);

pub struct Client {
    breaker: CircuitBreaker,
}

impl Client {
    #[circuit_breaker(breaker = &self.breaker)]
    pub async fn get(&self, id: u64) -> Result<u64, Error> {
        Ok(id)
    }

    #[retry(policy = &POLICY)]
    #[circuit_breaker(breaker = &self.breaker)]
    pub fn get_blocking(&self, id: u64) -> Result<u64, Error> {
        Ok(id)
    }
}

#[retry(policy = &POLICY)]
#[circuit_breaker(breaker = &SHARED)]
pub async fn fetch(id: u64) -> Result<u64, Error> {
    Ok(id)
}

fn main() {
    let client = Client { breaker: CircuitBreaker::new("client", BreakerConfig::new()) };
    let _ = client.get_blocking(1);
}
