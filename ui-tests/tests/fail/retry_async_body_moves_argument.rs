// Retry runs the body again, so the body cannot move an argument out: borrow or clone it.
use resilient::retry;

#[derive(Debug)]
struct Error;

async fn send(_request: String) -> Result<(), Error> {
    Ok(())
}

#[retry(max_attempts = 3)]
async fn fetch(request: String) -> Result<(), Error> {
    send(request).await
}

fn main() {}
