//! `#[bulkhead]` on virtual time: slots, waits and refusals at exact instants, its default name
//! and registration, a bulkhead shared by two functions, a blocking function, and its place in
//! the recommended stack (inside the breaker and the retry, around the timeout).

mod common;

use common::{ApiError, Calls, ms};
use resilient::registry::{self, PolicyKind};
use resilient::{
    BreakerState, Bulkhead, RejectedKind, bulkhead, circuit_breaker, rate_limit, retry, timeout,
};
use std::time::Duration;
use tokio::time::sleep;

/// One slot, each call 100 ms, each may wait 150 ms: the second starts at 100 ms, the third is
/// refused at 150 ms.
#[tokio::test(start_paused = true)]
async fn callers_wait_for_a_slot_and_the_rest_are_refused() {
    #[bulkhead(max_concurrent = 1, max_wait = "150ms")]
    async fn export(calls: &Calls) -> Result<u32, ApiError> {
        let n = calls.next();
        sleep(ms(100)).await;
        Ok(n)
    }
    let calls = Calls::new();
    let start = tokio::time::Instant::now();
    let refused_at = async {
        let result = export(&calls).await;
        (result, start.elapsed())
    };
    let (a, b, (c, at)) = tokio::join!(export(&calls), export(&calls), refused_at);
    assert_eq!((a, b), (Ok(1), Ok(2)));
    let refused = c.unwrap_err();
    assert_eq!(refused.rejection(), Some(RejectedKind::BulkheadFull));
    assert_eq!(
        refused.rejected().policy(),
        concat!(module_path!(), "::export")
    );
    assert_eq!(at, ms(150));
    assert_eq!(calls.times(), [0, 100]);
}

#[tokio::test(start_paused = true)]
async fn the_bulkhead_registers_on_first_use_with_its_settings() {
    #[bulkhead(max_concurrent = 4, name = "bulkhead.registered")]
    async fn ping() -> Result<(), ApiError> {
        Ok(())
    }
    let registered = || {
        registry::policies()
            .into_iter()
            .find(|p| p.name == "bulkhead.registered")
    };
    assert!(registered().is_none());
    ping().await.unwrap();
    let info = registered().expect("registered on first use");
    assert_eq!(info.kind, PolicyKind::Bulkhead);
    assert_eq!(info.config["max_concurrent"], "4");
    assert_eq!(info.config["max_wait"], "0s");
    let registry::PolicyMetrics::Bulkhead(m) = info.metrics else {
        panic!("{:?}", info.metrics)
    };
    assert_eq!((m.admitted, m.rejected, m.peak), (1, 0, 1));
}

/// Two functions on one bulkhead of the user's: they share its slots.
#[tokio::test(start_paused = true)]
async fn two_functions_share_a_bulkhead_of_their_own() {
    static SHARED: Bulkhead = Bulkhead::new("bulkhead.shared", 1);
    #[bulkhead(bulkhead = &SHARED)]
    async fn read() -> Result<&'static str, ApiError> {
        sleep(ms(10)).await;
        Ok("read")
    }
    #[bulkhead(bulkhead = &SHARED)]
    async fn write() -> Result<&'static str, ApiError> {
        Ok("write")
    }
    let (read, write) = tokio::join!(read(), write());
    assert_eq!(read, Ok("read"));
    assert_eq!(write.unwrap_err().rejected().policy(), "bulkhead.shared");
    assert_eq!(SHARED.metrics().admitted, 1);
}

/// The full recommended order. The bulkhead refuses the third of three calls at once; the retry
/// tries it again after its 10 ms backoff, when a slot is free; the breaker counts no refusal;
/// the timeout inside the bulkhead bounds each call's time in its slot.
#[tokio::test(start_paused = true)]
async fn in_the_stack_a_refusal_is_retried_and_not_counted_by_the_breaker() {
    #[retry(max_attempts = 3, backoff = constant("10ms"), when = ApiError::is_transient)]
    #[circuit_breaker(failure_threshold = 1, name = "bulkhead.stacked")]
    #[rate_limit(rate = 1000)]
    #[bulkhead(max_concurrent = 2)]
    #[timeout("1s")]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        let n = calls.next();
        sleep(ms(5)).await;
        Ok(n)
    }
    let calls = Calls::new();
    let (a, b, c) = tokio::join!(fetch(&calls), fetch(&calls), fetch(&calls));
    assert_eq!((a, b, c), (Ok(1), Ok(2), Ok(3)));
    assert_eq!(calls.times(), [0, 0, 10]);
    let breaker = registry::breakers()
        .into_iter()
        .find(|b| b.name() == "bulkhead.stacked")
        .expect("registered");
    assert_eq!(breaker.state(), BreakerState::Closed);
    let m = breaker.metrics();
    assert_eq!((m.successes, m.failures, m.released), (3, 0, 1));
}

/// A blocking function takes a slot on its thread; with none free it waits (the thread parked)
/// up to `max_wait`, then is refused.
#[test]
fn a_blocking_function_is_bounded_too() {
    use std::sync::mpsc;
    #[bulkhead(max_concurrent = 1, max_wait = "20ms", name = "bulkhead.blocking")]
    fn hold(entered: &mpsc::Sender<()>, leave: &mpsc::Receiver<()>) -> Result<(), ApiError> {
        entered.send(()).unwrap();
        leave.recv().unwrap();
        Ok(())
    }
    let (entered_tx, entered) = mpsc::channel();
    let (leave, leave_rx) = mpsc::channel();
    std::thread::scope(|s| {
        let holder = s.spawn(move || hold(&entered_tx, &leave_rx));
        entered.recv().unwrap();
        let (unused_tx, unused_rx) = mpsc::channel();
        let refused = hold(&unused_tx, &unused_rx).unwrap_err();
        assert_eq!(refused.rejection(), Some(RejectedKind::BulkheadFull));
        leave.send(()).unwrap();
        assert_eq!(holder.join().unwrap(), Ok(()));
    });
    let info = registry::policies()
        .into_iter()
        .find(|p| p.name == "bulkhead.blocking")
        .expect("registered");
    let registry::PolicyMetrics::Bulkhead(m) = info.metrics else {
        panic!("{:?}", info.metrics)
    };
    assert_eq!(
        (m.admitted, m.waited, m.rejected, m.in_flight),
        (1, 1, 1, 0)
    );
}

/// A blocking waiter is handed the slot when the holder leaves, well before its `max_wait`.
#[test]
fn a_blocking_waiter_gets_the_slot_when_it_is_freed() {
    use std::sync::mpsc;
    #[bulkhead(max_concurrent = 1, max_wait = "1h")]
    fn hold(
        entered: &mpsc::Sender<u8>,
        leave: &mpsc::Receiver<()>,
        id: u8,
    ) -> Result<u8, ApiError> {
        entered.send(id).unwrap();
        leave.recv().unwrap();
        Ok(id)
    }
    let (entered_tx, entered) = mpsc::channel();
    let (leave_first, first_rx) = mpsc::channel();
    let (leave_second, second_rx) = mpsc::channel();
    std::thread::scope(|s| {
        let tx = entered_tx.clone();
        let first = s.spawn(move || hold(&tx, &first_rx, 1));
        assert_eq!(entered.recv().unwrap(), 1);
        let second = s.spawn(move || hold(&entered_tx, &second_rx, 2));
        assert!(
            entered.recv_timeout(Duration::from_millis(50)).is_err(),
            "the second waits while the first holds the slot"
        );
        leave_first.send(()).unwrap();
        assert_eq!(entered.recv().unwrap(), 2);
        leave_second.send(()).unwrap();
        assert_eq!(first.join().unwrap(), Ok(1));
        assert_eq!(second.join().unwrap(), Ok(2));
    });
}
