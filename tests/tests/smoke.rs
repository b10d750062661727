use resilient::{Rejected, circuit_breaker, fallback, retry, timeout};
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("upstream answered {0}")]
    Status(u16),
    #[error(transparent)]
    Rejected(#[from] Rejected),
}

static CALLS: AtomicU32 = AtomicU32::new(0);

#[retry(max_attempts = 4, backoff = constant("10ms"))]
#[circuit_breaker(failure_threshold = 3, recovery_timeout = "30s")]
#[timeout("5s")]
async fn fetch(id: u64) -> Result<u64, ApiError> {
    if CALLS.fetch_add(1, Ordering::SeqCst) < 2 {
        return Err(ApiError::Status(503));
    }
    Ok(id)
}

#[fallback(|_err| Ok(0))]
#[retry(max_attempts = 2, backoff = none)]
fn sync_fetch(id: u64) -> Result<u64, ApiError> {
    Err(ApiError::Status(id as u16))
}

#[tokio::test(start_paused = true)]
async fn smoke() {
    assert_eq!(fetch(7).await.unwrap(), 7);
    assert_eq!(CALLS.load(Ordering::SeqCst), 3);
    assert_eq!(sync_fetch(5).unwrap(), 0);
}
