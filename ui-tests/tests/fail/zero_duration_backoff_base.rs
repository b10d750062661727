// A backoff's `base` of zero: only that is reported, not a `max` below the default base.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(backoff = exponential(base = "0s", max = "500ms"))]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
