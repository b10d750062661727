// Retry runs the body again, so the body cannot move an argument out: borrow or clone it.
use resilient::retry;

#[derive(Debug)]
struct Error;

fn send(_request: String) -> Result<(), Error> {
    Ok(())
}

#[retry(max_attempts = 3)]
fn fetch(request: String) -> Result<(), Error> {
    send(request)
}

fn main() {}
