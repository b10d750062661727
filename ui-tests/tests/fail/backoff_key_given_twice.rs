// A key given twice inside a backoff.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(backoff = exponential(base = "1s", base = "2s"))]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
