// On an async function the fallback is async too: it returns a future of the `Result`.
use resilient::fallback;

#[derive(Debug)]
struct Error;

#[fallback(|_err| Ok(0))]
async fn fetch() -> Result<u32, Error> {
    Ok(1)
}

fn main() {}
