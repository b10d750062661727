//! The default policy name is the function's path, `module::fn_name`, or `module::Type::method`
//! for a function in an impl, written as the function is named in code; `name = "..."` gives
//! another, on every attribute.

mod common;

use common::ApiError;
use resilient::registry::{self, PolicyKind};
use resilient::{circuit_breaker, fallback, retry, timeout};
use std::marker::PhantomData;

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

/// A client generic over its transport, as services write them.
struct Client<T> {
    transport: PhantomData<T>,
}

trait Lookup {
    async fn lookup(&self) -> Result<u32, ApiError>;
}

impl<T> Client<T> {
    #[circuit_breaker(failure_threshold = 1)]
    async fn fetch(&self) -> Result<u32, ApiError> {
        Err(ApiError::Status(503))
    }

    #[circuit_breaker(name = "connect_given")]
    #[timeout("1s")]
    async fn connect_async() -> Result<u32, ApiError> {
        Ok(2)
    }

    #[circuit_breaker]
    fn connect() -> Result<u32, ApiError> {
        Ok(1)
    }
}

impl<T> Lookup for Client<T> {
    #[retry(max_attempts = 2, backoff = constant("10ms"))]
    async fn lookup(&self) -> Result<u32, ApiError> {
        Err(ApiError::Status(503))
    }
}

fn registered(name: &str) -> Option<PolicyKind> {
    registry::policies()
        .into_iter()
        .find(|p| p.name == name)
        .map(|p| p.kind)
}

#[tokio::test(start_paused = true)]
async fn a_method_is_named_after_its_type_without_generic_arguments() {
    let client = Client::<u8> {
        transport: PhantomData,
    };
    client.fetch().await.unwrap_err();
    let Err(ApiError::Rejected(rejected)) = client.fetch().await else {
        panic!("the breaker opened after one failure");
    };
    assert_eq!(rejected.policy(), "names::Client::fetch");
    assert_eq!(
        registered("names::Client::fetch"),
        Some(PolicyKind::CircuitBreaker)
    );

    assert_eq!(Client::<u8>::connect(), Ok(1));
    assert_eq!(
        registered("names::Client::connect"),
        Some(PolicyKind::CircuitBreaker)
    );

    assert_eq!(Client::<u8>::connect_async().await, Ok(2));
    assert_eq!(
        registered("connect_given"),
        Some(PolicyKind::CircuitBreaker)
    );
    assert_eq!(
        registered("names::Client::connect_async"),
        Some(PolicyKind::Timeout)
    );
}

#[tokio::test(start_paused = true)]
async fn a_trait_method_is_named_after_the_implementing_type() {
    let client = Client::<String> {
        transport: PhantomData,
    };
    assert_eq!(client.lookup().await, Err(ApiError::Status(503)));
    assert_eq!(registered("names::Client::lookup"), Some(PolicyKind::Retry));
}
