// Independent mistakes are all reported at once, each on its own token.
use resilient::{circuit_breaker, retry, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[retry(max_attempts = 0, budget = "10", backof = none)]
#[circuit_breaker(failure_threshold = 3, failure_rate = 2.0, recovery_timeout = "30s")]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
