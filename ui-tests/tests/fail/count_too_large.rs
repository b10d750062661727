// A count must fit in a u32.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(max_attempts = 5000000000)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
