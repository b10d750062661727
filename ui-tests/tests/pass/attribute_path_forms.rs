// The attributes by their path: `resilient::retry` and `::resilient::retry`, stacked too.
#![deny(warnings)]

use resilient::Rejected;

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[resilient::retry(max_attempts = 2)]
pub async fn a() -> Result<(), Error> {
    Ok(())
}

#[::resilient::retry(max_attempts = 2)]
pub async fn b() -> Result<(), Error> {
    Ok(())
}

#[resilient::fallback(|_err| Ok(()))]
#[::resilient::retry(max_attempts = 2)]
#[resilient::circuit_breaker(failure_threshold = 3)]
pub fn c() -> Result<(), Error> {
    Ok(())
}

#[::resilient::circuit_breaker(failure_threshold = 3)]
#[resilient::timeout("1s")]
pub async fn d() -> Result<(), Error> {
    Ok(())
}

fn main() {
    let _ = c();
}
