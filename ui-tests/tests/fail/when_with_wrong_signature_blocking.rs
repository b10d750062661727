// `when` is `Fn(&E) -> bool`: a predicate on another type is a type error at the predicate.
use resilient::{circuit_breaker, retry, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

fn is_transient(code: &u16) -> bool {
    *code == 503
}

#[retry(max_attempts = 3, when = is_transient)]
#[circuit_breaker(when = |code: &u16| *code == 500)]
fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
