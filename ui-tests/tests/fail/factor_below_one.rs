// An exponential backoff with a factor below 1 would shrink.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(backoff = exponential(factor = 0.5))]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
