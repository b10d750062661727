// `#[timeout]` takes its limit and `name` only.
use resilient::{timeout, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[timeout("5s", nmae = "fetch")]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
