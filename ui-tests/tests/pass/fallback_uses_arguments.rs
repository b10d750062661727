// A fallback closure may use the function's arguments; an async function's fallback is async.
#![deny(warnings)]

use resilient::{fallback, retry};

#[derive(Debug)]
pub struct Error;

fn cached(id: u64) -> Result<String, Error> {
    Ok(format!("cached {id}"))
}

async fn cached_async(id: u64, _err: Error) -> Result<String, Error> {
    Ok(format!("cached {id}"))
}

async fn default_name(_err: Error) -> Result<String, Error> {
    Ok(String::new())
}

#[fallback(|_err| cached(id))]
#[retry(max_attempts = 2)]
pub fn name(id: u64) -> Result<String, Error> {
    Err(Error).map(|()| id.to_string())
}

#[fallback(|err| cached_async(id, err))]
pub async fn name_async(id: u64) -> Result<String, Error> {
    Ok(id.to_string())
}

#[fallback(default_name)]
pub async fn name_or_default(id: u64) -> Result<String, Error> {
    Ok(id.to_string())
}

#[fallback(|_err| async move { Ok(format!("default {id}")) })]
pub async fn name_async_block(id: u64) -> Result<String, Error> {
    Ok(id.to_string())
}

/// An async block may return early and use `?`: its output is the function's type.
#[fallback(|_err| async move {
    if id == 0 {
        return Ok(String::new());
    }
    let cached = cached(id)?;
    Ok(cached)
})]
pub async fn name_async_block_with_question_mark(id: u64) -> Result<String, Error> {
    Ok(id.to_string())
}

fn main() {
    let _ = name(1);
}
