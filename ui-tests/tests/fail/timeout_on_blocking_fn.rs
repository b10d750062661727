// A blocking function cannot be stopped while it runs: `#[timeout]` needs an `async fn`.
use resilient::{timeout, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[timeout("5s")]
fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
