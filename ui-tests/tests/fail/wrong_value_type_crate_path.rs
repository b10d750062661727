// `crate = ...` takes the path in quotes, as serde and tokio do.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(crate = resilient)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
