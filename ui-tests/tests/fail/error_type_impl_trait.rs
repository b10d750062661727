// An `impl Error` error type cannot hold a rejection it does not promise: one error, naming
// `From<Rejected>`.
use resilient::timeout;

#[timeout("1s")]
pub async fn fetch() -> Result<u64, impl std::error::Error> {
    Err::<u64, _>(std::fmt::Error)
}

fn main() {}
