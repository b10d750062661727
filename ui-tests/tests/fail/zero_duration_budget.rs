// A retry budget of zero leaves no time for a retry.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(budget = "0s")]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
