// `#[timeout]` below another attribute on a blocking function.
use resilient::{retry, timeout, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[retry(max_attempts = 2)]
#[timeout("5s")]
fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
