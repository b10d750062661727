// A key given twice: which one was meant?
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(max_attempts = 3, max_attempts = 5)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
