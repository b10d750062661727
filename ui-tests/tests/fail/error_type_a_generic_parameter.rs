// A generic error type needs `From<Rejected>` among its bounds: one error, naming that bound.
use resilient::circuit_breaker;

#[circuit_breaker(failure_threshold = 3)]
pub async fn fetch<E: std::error::Error>(fail: Option<E>) -> Result<u64, E> {
    match fail {
        Some(err) => Err(err),
        None => Ok(1),
    }
}

fn main() {}
