// A time limit of zero would time out every call.
use resilient::{timeout, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[timeout("0ms")]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
