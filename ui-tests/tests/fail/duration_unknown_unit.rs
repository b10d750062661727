// `sec` is not a unit: the error lists the units.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(budget = "30sec")]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
