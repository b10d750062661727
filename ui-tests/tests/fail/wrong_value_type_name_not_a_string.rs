// A name is a string literal.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(name = payments)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
