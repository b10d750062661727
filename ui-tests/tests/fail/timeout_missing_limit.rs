// `#[timeout]` needs its limit.
use resilient::{timeout, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[timeout]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
