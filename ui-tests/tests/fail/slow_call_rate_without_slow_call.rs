// `slow_call_rate` needs `slow_call`, the duration above which a call counts as slow.
use resilient::{circuit_breaker, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(failure_rate = 0.5, slow_call_rate = 0.8)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
