// The same attribute twice, once by its full path.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(max_attempts = 3)]
#[resilient::retry(max_attempts = 5)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
