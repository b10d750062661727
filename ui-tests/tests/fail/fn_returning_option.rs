// `Option` is not a `Result`: the layers judge a call by its `Err`.
use resilient::{circuit_breaker, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(failure_threshold = 3)]
async fn fetch() -> Option<u32> {
    Some(1)
}

fn main() {}
