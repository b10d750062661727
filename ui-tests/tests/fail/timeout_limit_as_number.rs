// A bare number has no unit: seconds or milliseconds?
use resilient::{timeout, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[timeout(5)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
