//! Rollback scopes: order, savepoints, panics, cancellation, failing compensations.

mod common;

use resilient::atomic::{on_rollback, on_rollback_async, scope, scope_blocking};
use std::future::{Future, pending};
use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};

/// What happened, in order.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap().push(entry.into());
    }

    fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// Registers a blocking compensation that logs `undo`.
    fn undo(&self, undo: &'static str) {
        let log = self.clone();
        on_rollback(move || log.push(undo));
    }

    /// Registers an async compensation that yields once, then logs `undo`.
    fn undo_async(&self, undo: &'static str) {
        let log = self.clone();
        on_rollback_async(move || async move {
            tokio::task::yield_now().await;
            log.push(undo);
        });
    }
}

#[tokio::test]
async fn an_error_runs_every_compensation_newest_first_and_returns_the_error() {
    let log = Log::default();
    let result: Result<(), &str> = scope(async {
        log.push("step 1");
        log.undo("undo 1");
        log.push("step 2");
        log.undo_async("undo 2");
        log.push("step 3");
        log.undo("undo 3");
        Err("step 4 failed")
    })
    .await;
    assert_eq!(result, Err("step 4 failed"));
    assert_eq!(
        log.entries(),
        ["step 1", "step 2", "step 3", "undo 3", "undo 2", "undo 1"]
    );
}

#[tokio::test]
async fn success_drops_the_compensations() {
    let log = Log::default();
    let result: Result<u32, ()> = scope(async {
        log.undo("undo");
        log.undo_async("undo async");
        Ok(7)
    })
    .await;
    assert_eq!(result, Ok(7));
    tokio::task::yield_now().await;
    assert!(log.entries().is_empty());
}

#[tokio::test]
async fn a_failed_savepoint_undoes_only_its_own_work() {
    let log = Log::default();
    let result: Result<&str, ()> = scope(async {
        log.undo("undo outer");
        let inner: Result<(), &str> = scope(async {
            log.undo("undo inner");
            Err("inner failed")
        })
        .await;
        assert_eq!(inner, Err("inner failed"));
        Ok("outer went on")
    })
    .await;
    assert_eq!(result, Ok("outer went on"));
    assert_eq!(log.entries(), ["undo inner"]);
}

#[tokio::test]
async fn a_committed_savepoint_joins_the_parent_and_rolls_back_with_it() {
    let log = Log::default();
    let result: Result<(), &str> = scope(async {
        log.undo("undo outer 1");
        scope(async {
            log.undo("undo inner");
            Ok::<_, &str>(())
        })
        .await?;
        log.undo("undo outer 2");
        Err("outer failed")
    })
    .await;
    assert_eq!(result, Err("outer failed"));
    assert_eq!(
        log.entries(),
        ["undo outer 2", "undo inner", "undo outer 1"]
    );
}

/// Lets spawned rollback tasks run to their end.
async fn let_spawned_work_run() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_panic_rolls_back_then_keeps_unwinding() {
    let log = Log::default();
    let inside = log.clone();
    let joined = tokio::spawn(scope(async move {
        inside.undo("undo");
        inside.undo_async("undo async");
        if inside.entries().is_empty() {
            panic!("boom");
        }
        Ok::<(), ()>(())
    }))
    .await;
    assert!(joined.unwrap_err().is_panic(), "the panic goes on");
    let_spawned_work_run().await;
    assert_eq!(log.entries(), ["undo async", "undo"]);
}

#[tokio::test]
async fn a_cancelled_scope_runs_the_newest_blocking_compensations_at_once_and_the_rest_in_order() {
    let log = Log::default();
    {
        let mut fut = std::pin::pin!(scope(async {
            log.undo("undo 1");
            log.undo_async("undo 2");
            log.undo("undo 3");
            pending::<Result<(), ()>>().await
        }));
        assert!(
            fut.as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
    } // dropped: cancelled
    assert_eq!(log.entries(), ["undo 3"]);
    let_spawned_work_run().await;
    assert_eq!(log.entries(), ["undo 3", "undo 2", "undo 1"]);
}

/// Registers blocking and async compensations in turn: `b1`, `a2`, `b3`, `a4`, `b5`.
fn interleaved(log: &Log) {
    log.undo("b1");
    log.undo_async("a2");
    log.undo("b3");
    log.undo_async("a4");
    log.undo("b5");
}

const NEWEST_FIRST: [&str; 5] = ["b5", "a4", "b3", "a2", "b1"];

#[tokio::test]
async fn blocking_and_async_compensations_roll_back_strictly_newest_first_on_error_panic_and_cancellation()
 {
    let log = Log::default();
    let failed: Result<(), &str> = scope(async {
        interleaved(&log);
        Err("failed")
    })
    .await;
    assert!(failed.is_err());
    assert_eq!(log.entries(), NEWEST_FIRST, "on an error");

    let log = Log::default();
    let inside = log.clone();
    let panicked = tokio::spawn(scope(async move {
        interleaved(&inside);
        if inside.entries().is_empty() {
            panic!("boom");
        }
        Ok::<(), ()>(())
    }))
    .await;
    assert!(panicked.unwrap_err().is_panic());
    let_spawned_work_run().await;
    assert_eq!(log.entries(), NEWEST_FIRST, "on a panic");

    let log = Log::default();
    {
        let mut fut = std::pin::pin!(scope(async {
            interleaved(&log);
            pending::<Result<(), ()>>().await
        }));
        assert!(
            fut.as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
    }
    let_spawned_work_run().await;
    assert_eq!(log.entries(), NEWEST_FIRST, "on a cancellation");
}

#[tokio::test]
async fn a_cancelled_scope_undoes_the_work_of_the_scopes_nested_in_it_first() {
    let log = Log::default();
    {
        let mut fut = std::pin::pin!(scope(async {
            log.undo("outer");
            scope(async {
                log.undo_async("inner async");
                log.undo("inner");
                pending::<Result<(), ()>>().await
            })
            .await
        }));
        assert!(
            fut.as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
    }
    assert_eq!(
        log.entries(),
        ["inner"],
        "one rollback: the newest blocking compensation at once, the rest on one task"
    );
    let_spawned_work_run().await;
    assert_eq!(log.entries(), ["inner", "inner async", "outer"]);

    // Cancelled while the nested scope awaits one of its async compensations.
    let log = Log::default();
    {
        let mut fut = std::pin::pin!(scope(async {
            log.undo("outer");
            let nested: Result<(), &str> = scope(async {
                log.undo("inner 1");
                log.undo_async("inner 2");
                Err("inner failed")
            })
            .await;
            assert!(nested.is_err());
            pending::<Result<(), &str>>().await
        }));
        assert!(
            fut.as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending(),
            "the nested scope awaits `inner 2`"
        );
    }
    let_spawned_work_run().await;
    assert_eq!(log.entries(), ["inner 2", "inner 1", "outer"]);
}

#[tokio::test]
async fn a_panic_through_nested_scopes_undoes_the_innermost_work_first() {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    let log = Log::default();
    let mut fut = std::pin::pin!(scope(async {
        log.undo("outer");
        scope(async {
            log.undo_async("inner async");
            log.undo("inner");
            if log.entries().is_empty() {
                panic!("boom");
            }
            Ok::<(), ()>(())
        })
        .await
    }));
    let polled = catch_unwind(AssertUnwindSafe(|| {
        fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }));
    assert!(polled.is_err(), "the panic goes on");
    assert_eq!(
        log.entries(),
        ["inner"],
        "one rollback: the newest blocking compensation at once, the rest on one task"
    );
    let_spawned_work_run().await;
    assert_eq!(log.entries(), ["inner", "inner async", "outer"]);
}

#[tokio::test]
async fn a_nested_scope_whose_panic_is_caught_inside_the_outer_one_is_undone_at_once() {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    let log = Log::default();
    let result: Result<(), ()> = scope(async {
        log.undo("outer");
        let mut nested = std::pin::pin!(scope(async {
            log.undo_async("inner async");
            log.undo("inner");
            if log.entries().is_empty() {
                panic!("boom");
            }
            Ok::<(), ()>(())
        }));
        let caught = std::future::poll_fn(|cx| {
            match catch_unwind(AssertUnwindSafe(|| nested.as_mut().poll(cx))) {
                Ok(poll) => poll.map(Ok),
                Err(panic) => std::task::Poll::Ready(Err(panic)),
            }
        })
        .await;
        assert!(caught.is_err(), "the panic was caught in the outer scope");
        let_spawned_work_run().await;
        assert_eq!(
            log.entries(),
            ["inner", "inner async"],
            "undone while the outer scope goes on"
        );
        Ok(())
    })
    .await;
    assert_eq!(result, Ok(()));
    let_spawned_work_run().await;
    assert_eq!(
        log.entries(),
        ["inner", "inner async"],
        "the outer scope committed; the nested one rolled back"
    );
}

/// A current-thread runtime whose one task is an atomic scope, pending after registering
/// `undo 1` (blocking), `undo 2` (async) and `undo 3` (blocking).
fn runtime_with_a_pending_scope(log: &Log) -> tokio::runtime::Runtime {
    use std::sync::atomic::{AtomicBool, Ordering};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let registered = Arc::new(AtomicBool::new(false));
    let (inside, flag) = (log.clone(), registered.clone());
    runtime.spawn(scope(async move {
        inside.undo("undo 1");
        inside.undo_async("undo 2");
        inside.undo("undo 3");
        flag.store(true, Ordering::SeqCst);
        pending::<Result<(), ()>>().await
    }));
    runtime.block_on(async {
        while !registered.load(Ordering::SeqCst) {
            tokio::task::yield_now().await;
        }
    });
    runtime
}

#[test]
fn a_runtime_dropped_under_a_pending_scope_still_runs_all_its_compensations_in_order() {
    let log = Log::default();
    drop(runtime_with_a_pending_scope(&log));
    assert_eq!(log.entries(), ["undo 3", "undo 2", "undo 1"], "dropped");

    let log = Log::default();
    runtime_with_a_pending_scope(&log).shutdown_background();
    assert_eq!(
        log.entries(),
        ["undo 3", "undo 2", "undo 1"],
        "shut down in the background"
    );
}

/// A future that waits until the test opens it.
#[derive(Clone, Default)]
struct Gate(Arc<Mutex<(bool, Option<Waker>)>>);

impl Gate {
    fn open(&self) {
        let mut gate = self.0.lock().unwrap();
        gate.0 = true;
        if let Some(waker) = gate.1.take() {
            waker.wake();
        }
    }
}

impl Future for Gate {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> std::task::Poll<()> {
        let mut gate = self.0.lock().unwrap();
        if gate.0 {
            return std::task::Poll::Ready(());
        }
        gate.1 = Some(cx.waker().clone());
        std::task::Poll::Pending
    }
}

#[test]
fn a_compensation_under_way_when_its_runtime_shuts_down_is_finished_on_a_thread_of_its_own() {
    let log = Log::default();
    let gate = Gate::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (inside, waiting) = (log.clone(), gate.clone());
    let task = runtime.spawn(scope(async move {
        inside.undo("undo 1");
        let undo = inside.clone();
        on_rollback_async(move || async move {
            undo.push("undo 2 started");
            waiting.await;
            undo.push("undo 2 finished");
        });
        pending::<Result<(), ()>>().await
    }));
    runtime.block_on(async {
        tokio::task::yield_now().await;
        task.abort(); // cancelled: its rollback goes on in a task of its own
        while log.entries().is_empty() {
            tokio::task::yield_now().await;
        }
    });
    assert_eq!(log.entries(), ["undo 2 started"]);
    gate.open();
    drop(runtime);
    assert_eq!(
        log.entries(),
        ["undo 2 started", "undo 2 finished", "undo 1"]
    );
}

#[test]
fn outside_any_runtime_async_compensations_run_on_a_thread_of_their_own() {
    let (capture, _stop) = common::capture::Capture::start();
    let log = Log::default();
    let result: Result<(), &str> = scope_blocking(|| {
        log.undo("undo 1");
        log.undo_async("undo 2");
        log.undo("undo 3");
        Err("failed")
    });
    assert_eq!(result, Err("failed"));
    assert_eq!(log.entries(), ["undo 3", "undo 2", "undo 1"]);
    assert!(
        !capture
            .names()
            .iter()
            .any(|(name, _)| *name == "atomic.rollback_incomplete")
    );
}

#[tokio::test]
async fn a_panicking_compensation_does_not_stop_the_others() {
    let log = Log::default();
    let result: Result<(), &str> = scope(async {
        log.undo("undo 1");
        on_rollback(|| panic!("compensation failed"));
        on_rollback_async(|| async { panic!("async compensation failed") });
        log.undo("undo 4");
        Err("failed")
    })
    .await;
    assert_eq!(result, Err("failed"), "the original error is returned");
    assert_eq!(log.entries(), ["undo 4", "undo 1"]);
}

#[tokio::test]
async fn a_rollback_is_reported_once_with_its_count_and_only_when_there_is_work_to_undo() {
    let (capture, _stop) = common::capture::Capture::start();
    let empty: Result<(), &str> = scope(async { Err("nothing registered") }).await;
    assert!(empty.is_err());
    assert_eq!(scope_blocking(|| Err::<(), ()>(())), Err(()));
    assert!(capture.names().is_empty(), "nothing to undo: no event");

    let log = Log::default();
    let failed: Result<(), &str> = scope(async {
        log.undo("undo 1");
        on_rollback(|| panic!("compensation failed"));
        Err("failed")
    })
    .await;
    assert!(failed.is_err());
    let events = capture.take();
    let names: Vec<&str> = events.iter().map(|e| e.name).collect();
    assert_eq!(names, ["atomic.rolled_back", "atomic.compensation_failed"]);
    assert_eq!(
        (
            common::capture::field(&events[0], "compensations"),
            common::capture::field(&events[0], "reason")
        ),
        ("2", "error")
    );
}

#[test]
fn registering_outside_a_scope_does_nothing() {
    let log = Log::default();
    log.undo("never");
    let result: Result<(), ()> = scope_blocking(|| Err(()));
    assert_eq!(result, Err(()));
    assert!(
        log.entries().is_empty(),
        "the earlier registration did not join a later scope"
    );
}

#[test]
fn a_blocking_scope_rolls_back_and_savepoints_nest() {
    let log = Log::default();
    let result: Result<(), &str> = scope_blocking(|| {
        log.undo("undo outer");
        let inner: Result<(), &str> = scope_blocking(|| {
            log.undo("undo inner");
            Err("inner")
        });
        assert_eq!(inner, Err("inner"));
        scope_blocking(|| {
            log.undo("undo kept");
            Ok::<_, &str>(())
        })?;
        Err("outer")
    });
    assert_eq!(result, Err("outer"));
    assert_eq!(log.entries(), ["undo inner", "undo kept", "undo outer"]);
}

#[test]
fn a_panic_in_a_blocking_scope_rolls_back_then_unwinds() {
    let log = Log::default();
    let unwound = std::panic::catch_unwind(|| {
        scope_blocking(|| -> Result<(), ()> {
            log.undo("undo");
            panic!("boom")
        })
    });
    assert!(unwound.is_err());
    assert_eq!(log.entries(), ["undo"]);
}

#[tokio::test]
async fn the_scope_follows_the_work_across_awaits_and_threads() {
    let log = Log::default();
    let inside = log.clone();
    let result = tokio::spawn(scope(async move {
        inside.undo("before");
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        inside.undo("after");
        Err::<(), _>("failed")
    }))
    .await
    .unwrap();
    assert_eq!(result, Err("failed"));
    assert_eq!(log.entries(), ["after", "before"]);
}

#[tokio::test]
async fn a_snapshot_puts_shared_state_back_on_rollback_and_keeps_it_on_commit() {
    use resilient::atomic::snapshot;
    use std::sync::RwLock;
    static COUNTERS: Mutex<Vec<u32>> = Mutex::new(Vec::new());
    let settings = Arc::new(RwLock::new(String::from("v1")));
    let result: Result<(), &str> = scope(async {
        snapshot(&&COUNTERS);
        snapshot(&settings);
        COUNTERS.lock().unwrap().push(1);
        *settings.write().unwrap() = "v2".into();
        Err("rejected")
    })
    .await;
    assert!(result.is_err());
    assert!(COUNTERS.lock().unwrap().is_empty());
    assert_eq!(*settings.read().unwrap(), "v1");
    let result: Result<(), &str> = scope(async {
        snapshot(&settings);
        *settings.write().unwrap() = "v3".into();
        Ok(())
    })
    .await;
    assert!(result.is_ok());
    assert_eq!(*settings.read().unwrap(), "v3");
    assert!(!resilient::atomic::in_scope());
}

fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn files_written_in_a_scope_come_back_on_rollback_and_nothing_is_left_on_commit() {
    use resilient::fs::write_atomic;
    let dir = common::temp_dir("atomic-files");
    let (config, extra) = (dir.join("config.toml"), dir.join("extra.toml"));
    std::fs::write(&config, "version = 1").unwrap();
    let result: Result<(), std::io::Error> = scope(async {
        write_atomic(&config, "version = 2").await?;
        write_atomic(&config, "version = 3").await?;
        write_atomic(&extra, "new file").await?;
        Err(std::io::Error::other("validation failed"))
    })
    .await;
    assert_eq!(result.unwrap_err().to_string(), "validation failed");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "version = 1");
    assert!(!extra.exists(), "a file the scope created is removed");
    assert_eq!(
        names_in(&dir),
        ["config.toml"],
        "no kept copy is left behind"
    );

    let result: Result<(), std::io::Error> = scope(async {
        write_atomic(&config, "version = 4").await?;
        write_atomic(&extra, "kept").await
    })
    .await;
    assert!(result.is_ok());
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "version = 4");
    assert_eq!(
        names_in(&dir),
        ["config.toml", "extra.toml"],
        "kept copies are removed on commit"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn blocking_writes_in_a_savepoint_roll_back_with_it() {
    use resilient::fs::write_atomic_blocking;
    let dir = common::temp_dir("atomic-blocking");
    let state = dir.join("state");
    write_atomic_blocking(&state, "a").unwrap();
    let result: Result<(), std::io::Error> = scope_blocking(|| {
        write_atomic_blocking(&state, "b")?;
        let inner: Result<(), std::io::Error> = scope_blocking(|| {
            write_atomic_blocking(&state, "c")?;
            Err(std::io::Error::other("inner"))
        });
        assert!(inner.is_err());
        assert_eq!(
            std::fs::read_to_string(&state).unwrap(),
            "b",
            "the savepoint undid only its write"
        );
        Err(std::io::Error::other("outer"))
    });
    assert!(result.is_err());
    assert_eq!(std::fs::read_to_string(&state).unwrap(), "a");
    assert_eq!(names_in(&dir), ["state"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn commit_hooks_run_newest_first_when_the_outermost_scope_commits() {
    use resilient::atomic::on_commit_async;
    let log = Log::default();
    let hook = |log: &Log, entry: &'static str| {
        let log = log.clone();
        on_commit_async(move || async move {
            tokio::task::yield_now().await;
            log.push(entry);
        });
    };
    let result: Result<(), ()> = scope(async {
        hook(&log, "release outer");
        scope(async {
            hook(&log, "release inner");
            Ok::<_, ()>(())
        })
        .await?;
        assert!(
            log.entries().is_empty(),
            "a savepoint's hooks wait for the outermost commit"
        );
        let failed: Result<(), ()> = scope(async {
            hook(&log, "never: its scope failed");
            Err(())
        })
        .await;
        assert!(failed.is_err());
        Ok(())
    })
    .await;
    assert!(result.is_ok());
    assert_eq!(log.entries(), ["release inner", "release outer"]);

    let result: Result<(), ()> = scope(async {
        hook(&log, "never: the outer scope failed");
        scope(async {
            hook(&log, "never either");
            Ok::<_, ()>(())
        })
        .await?;
        Err(())
    })
    .await;
    assert!(result.is_err());
    assert_eq!(log.entries(), ["release inner", "release outer"]);
}
