// A key that is nothing like a valid one: the error lists the valid keys.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(colour = "blue")]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
