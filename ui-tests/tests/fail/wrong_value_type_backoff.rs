// A backoff is one of the named forms, not a duration.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(backoff = "1s")]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
