// `#[timeout(EXPR)]` takes an expression of type `Duration`: the type error is on the expression.
use resilient::{timeout, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

struct Client {
    limit_secs: u64,
}

impl Client {
    #[timeout(self.limit_secs)]
    async fn fetch(&self) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {}
