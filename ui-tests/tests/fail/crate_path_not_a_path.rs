// `crate = "..."` names the path of the renamed `resilient` dependency.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(crate = "my resilient")]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
