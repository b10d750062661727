// Units go largest first: "1s1m" is a typo for "1m1s".
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(budget = "1s1m")]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
