// `when` takes a predicate, not a value.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(when = true)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
