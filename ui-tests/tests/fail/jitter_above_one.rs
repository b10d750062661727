// Jitter is a symmetric fraction of the delay: at most 1.0 (±100 %).
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(backoff = exponential(base = "100ms", jitter = 1.5))]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
