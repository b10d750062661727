// Durations are whole numbers of a unit: "1.5s" is written "1s500ms".
use resilient::{timeout, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[timeout("1.5s")]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
