// Retry logs the errors it retries: the error type implements `Debug`.
use resilient::retry;

struct Error;

#[retry(max_attempts = 3)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
