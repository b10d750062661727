// `#[fallback]` needs the function or closure that gets the error.
use resilient::fallback;

#[derive(Debug)]
struct Error;

#[fallback]
async fn fetch() -> Result<u32, Error> {
    Ok(1)
}

fn main() {}
