// A count cannot be negative.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(max_attempts = -1)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
