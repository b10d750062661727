// Jitter is a fraction from 0.0 to 1.0; a negative one is out of range.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(backoff = linear(base = "100ms", jitter = -0.1))]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
