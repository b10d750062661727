// Generated code names `::resilient` and `::core`: local modules or items with those names, and a
// `use` in the body, do not change what it refers to.
#![deny(warnings)]

use resilient::{circuit_breaker, retry, timeout, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

pub mod core {}

pub mod client {
    use ::resilient::{circuit_breaker, retry, Rejected};

    mod resilient {}

    #[derive(Debug)]
    pub struct Error;

    impl From<Rejected> for Error {
        fn from(_: Rejected) -> Self {
            Error
        }
    }

    #[retry(max_attempts = 2)]
    #[circuit_breaker(failure_threshold = 3)]
    pub async fn get(id: u64) -> Result<u64, Error> {
        Ok(id)
    }
}

#[retry(max_attempts = 2)]
#[circuit_breaker(failure_threshold = 3)]
#[timeout("1s")]
pub async fn fetch(id: u64) -> Result<u64, Error> {
    #[allow(unused_imports)]
    use std::option::Option as Result;
    Ok(id)
}

fn main() {}
