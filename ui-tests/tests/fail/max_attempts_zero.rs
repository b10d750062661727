// `max_attempts` counts the first attempt too: 0 would never call the function.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(max_attempts = 0)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
