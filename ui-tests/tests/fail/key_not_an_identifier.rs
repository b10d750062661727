// Keys are plain identifiers, not paths.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(retry::max_attempts = 3)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
