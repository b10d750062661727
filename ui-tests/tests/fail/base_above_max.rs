// No delay may exceed `max`, so `base` cannot be longer than it.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(backoff = exponential(base = "10s", max = "5s"))]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
