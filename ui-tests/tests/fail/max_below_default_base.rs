// Without `base`, the first delay is 1s: a `max` below it needs a `base` too.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(backoff = linear(max = "500ms"))]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
