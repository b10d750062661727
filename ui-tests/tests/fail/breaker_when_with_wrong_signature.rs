// A breaker's `when` is `Fn(&E) -> bool` for the function's error type `E`.
use resilient::{circuit_breaker, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

fn is_failure(_: &std::io::Error) -> bool {
    true
}

#[circuit_breaker(when = is_failure)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
