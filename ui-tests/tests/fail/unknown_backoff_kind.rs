// A misspelt backoff kind: the error names the nearest one and lists the forms.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(backoff = exponentail(base = "1s"))]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
