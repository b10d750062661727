// Only `exponential` has a growth factor.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(backoff = linear(base = "1s", factor = 2.0))]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
