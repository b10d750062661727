// `constant` needs its delay.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(backoff = constant)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
