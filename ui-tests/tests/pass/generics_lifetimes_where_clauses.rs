// Generic parameters with bounds, lifetimes and where clauses stay as written.
#![deny(warnings)]

use resilient::{circuit_breaker, retry, timeout, Rejected};
use std::fmt::Display;

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[retry(max_attempts = 2)]
#[circuit_breaker(failure_threshold = 3)]
pub async fn describe<T: Display + Sync>(value: &T) -> Result<String, Error> {
    Ok(value.to_string())
}

#[timeout("1s")]
pub async fn first_word<'a>(text: &'a str) -> Result<&'a str, Error> {
    text.split_whitespace().next().ok_or(Error)
}

#[retry(max_attempts = 2)]
pub fn longest<'a, 'b: 'a, T>(a: &'a [T], b: &'b [T]) -> Result<&'a [T], Error>
where
    T: Clone + PartialEq,
{
    Ok(if a.len() >= b.len() { a } else { b })
}

#[circuit_breaker(failure_threshold = 3)]
pub async fn sum<I>(items: I) -> Result<u64, Error>
where
    I: IntoIterator<Item = u64> + Clone + Send,
{
    Ok(items.clone().into_iter().sum())
}

pub struct Wrapper<T>(pub T);

impl<T: Clone + Send + Sync> Wrapper<T> {
    #[retry(max_attempts = 2)]
    pub async fn get(&self) -> Result<T, Error> {
        Ok(self.0.clone())
    }
}

fn main() {}
