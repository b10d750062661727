// The attributes apply to functions only.
use resilient::retry;

#[retry(max_attempts = 3)]
struct Client;

fn main() {}
