// Methods in impl blocks and in trait impls, native `async fn` in traits included.
#![deny(warnings)]

use resilient::{circuit_breaker, retry, timeout, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

// The trait is the user's: its `async fn` is allowed here, the impl is what is tested.
#[allow(async_fn_in_trait)]
pub trait Store {
    fn get(&self, key: u64) -> impl std::future::Future<Output = Result<String, Error>> + Send;
    fn put(&mut self, key: u64, value: String) -> Result<(), Error>;
    async fn len(&self) -> Result<usize, Error>;
}

pub struct Memory {
    items: Vec<(u64, String)>,
}

impl Store for Memory {
    #[retry(max_attempts = 2)]
    #[circuit_breaker(failure_threshold = 3)]
    #[timeout("1s")]
    async fn get(&self, key: u64) -> Result<String, Error> {
        let found = self.items.iter().find(|(k, _)| *k == key);
        found.map(|(_, v)| v.clone()).ok_or(Error)
    }

    #[retry(max_attempts = 2)]
    fn put(&mut self, key: u64, value: String) -> Result<(), Error> {
        self.items.push((key, value.clone()));
        Ok(())
    }

    #[circuit_breaker(failure_threshold = 3)]
    async fn len(&self) -> Result<usize, Error> {
        Ok(self.items.len())
    }
}

impl Memory {
    #[retry(max_attempts = 2)]
    pub async fn clear(&mut self) -> Result<(), Error> {
        self.items.clear();
        Ok(())
    }
}

fn main() {
    let mut memory = Memory { items: Vec::new() };
    let _ = memory.put(1, String::from("one"));
}
