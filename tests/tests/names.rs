//! The default policy name is `module_path::fn_name`, written as the function is named in code;
//! `name = "..."` gives another, on every attribute.

mod common;

use common::ApiError;
use resilient::registry::{self, PolicyKind};
use resilient::{circuit_breaker, fallback};

#[circuit_breaker(failure_threshold = 1)]
async fn r#type() -> Result<(), ApiError> {
    Err(ApiError::Status(503))
}

#[tokio::test(start_paused = true)]
async fn a_raw_identifier_is_named_without_its_prefix() {
    r#type().await.unwrap_err();
    let Err(ApiError::Rejected(rejected)) = r#type().await else {
        panic!("the breaker opened after one failure");
    };
    assert_eq!(rejected.policy(), "names::type");
}

#[fallback(|_err| async { Ok(0) }, name = "cached_user")]
async fn fetch_user() -> Result<u32, ApiError> {
    Err(ApiError::Status(503))
}

#[tokio::test(start_paused = true)]
async fn a_fallback_takes_a_name() {
    assert_eq!(fetch_user().await, Ok(0));
    let fallback = registry::policies()
        .into_iter()
        .find(|p| p.name == "cached_user")
        .expect("the fallback registered under its name");
    assert_eq!(fallback.kind, PolicyKind::Fallback);
}
