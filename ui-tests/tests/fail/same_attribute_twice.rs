// Two retries on one function: give one, with the settings of both.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(max_attempts = 3)]
#[retry(max_attempts = 5)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
