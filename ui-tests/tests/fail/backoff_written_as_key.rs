// The backoff's kind written as a key: it is the value of `backoff = ...`.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(exponential(base = "1s"))]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
