//! The cluster-wide circuit breaker against a real `redis-server` on loopback, started by the
//! test (the README's test command installs it where missing). Each replica is a thread with its
//! own runtime, Redis client and breaker of the same name, as separate processes would be.
//! Redis keeps real time, so these tests run on the real clock, with margins far above the
//! batch period and bounded waits.

#[path = "support/redis_server.rs"]
mod redis_server;

use redis_server::{Server, free_port};
use resilient::shared::{OnFailure, Redis};
use resilient::{BreakerConfig, BreakerState, CircuitBreaker, Rejected};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const BATCH: Duration = Duration::from_millis(200);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A replica's breaker `name` sharing through the server at `url` under `prefix`.
fn replica(
    name: &'static str,
    config: BreakerConfig,
    url: &str,
    prefix: &str,
    on_failure: OnFailure,
) -> (&'static CircuitBreaker, Arc<Redis>) {
    let breaker: &'static CircuitBreaker = Box::leak(Box::new(CircuitBreaker::new(name, config)));
    let backend = Arc::new(
        Redis::new(url, prefix)
            .unwrap()
            .timeout(Duration::from_millis(500)),
    );
    breaker.share_every(BATCH);
    breaker.share_through(Arc::clone(&backend), on_failure);
    (breaker, backend)
}

/// A key prefix of this test's own.
fn prefix(test: &str) -> String {
    format!("{test}{}:", std::process::id())
}

/// One call through `breaker` whose dependency answers `Ok` or `Err`.
async fn call(breaker: &CircuitBreaker, fails: bool) -> Result<(), Failure> {
    breaker
        .call(async move { if fails { Err(Failure::Failed) } else { Ok(()) } })
        .await
}

#[derive(Debug, PartialEq)]
enum Failure {
    Failed,
    Rejected,
}

impl From<Rejected> for Failure {
    fn from(_: Rejected) -> Self {
        Failure::Rejected
    }
}

/// Polls `done` every 5 ms until it holds, for at most `limit`; how long it took.
async fn within(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

/// Three replicas see five failures each: none has the twelve calls its own breaker needs, the
/// cluster has fifteen, all failed. The cluster's breaker opens, and every replica's within one
/// batch period of the last failure; each then rejects without calling.
#[test]
fn a_dependency_failing_for_every_replica_opens_every_replica_within_one_batch() {
    let server = Server::start();
    let (url, prefix) = (server.url(), prefix("everyone"));
    let config = BreakerConfig::new()
        .failure_rate(0.5)
        .minimum_calls(12)
        .time_window(Duration::from_secs(10))
        .recovery_timeout(Duration::from_secs(60));
    let failed = Arc::new(Barrier::new(3));
    let replicas: Vec<_> = (0..3)
        .map(|_| {
            let (url, prefix, failed) = (url.clone(), prefix.clone(), Arc::clone(&failed));
            std::thread::spawn(move || {
                runtime().block_on(async {
                    let (breaker, _backend) =
                        replica("cluster.everyone", config, &url, &prefix, OnFailure::Local);
                    for _ in 0..5 {
                        assert_eq!(call(breaker, true).await, Err(Failure::Failed));
                    }
                    assert_eq!(breaker.metrics().failures, 5);
                    failed.wait();
                    let opened = within(Duration::from_secs(5), || {
                        breaker.state() == BreakerState::Open
                    })
                    .await
                    .expect("the cluster's opening never reached this replica");
                    assert_eq!(call(breaker, false).await, Err(Failure::Rejected));
                    let m = breaker.metrics();
                    assert_eq!((m.failures, m.successes, m.openings), (5, 0, 1));
                    opened
                })
            })
        })
        .collect();
    for replica in replicas {
        let opened = replica.join().unwrap();
        // One batch, and the round trips of a busy machine.
        assert!(opened <= BATCH + Duration::from_millis(250), "{opened:?}");
    }
}

/// One replica's own calls all fail and open its own breaker; the two others succeed, so the
/// cluster's failure rate stays below the threshold: their breakers stay closed.
#[test]
fn one_replica_failing_alone_opens_only_its_own_breaker() {
    let server = Server::start();
    let (url, prefix) = (server.url(), prefix("alone"));
    let config = BreakerConfig::new()
        .failure_rate(0.5)
        .minimum_calls(10)
        .time_window(Duration::from_secs(10))
        .recovery_timeout(Duration::from_secs(60));
    let healthy_sent = Arc::new(Barrier::new(3));
    let replicas: Vec<_> = (0..3)
        .map(|i| {
            let (url, prefix, healthy_sent) =
                (url.clone(), prefix.clone(), Arc::clone(&healthy_sent));
            std::thread::spawn(move || {
                runtime().block_on(async {
                    let (breaker, backend) =
                        replica("cluster.alone", config, &url, &prefix, OnFailure::Local);
                    let alone = i == 0;
                    if !alone {
                        for _ in 0..20 {
                            assert_eq!(call(breaker, false).await, Ok(()));
                        }
                        // Two batches: the successes are on the server.
                        tokio::time::sleep(BATCH * 2).await;
                    }
                    healthy_sent.wait();
                    if alone {
                        for _ in 0..10 {
                            assert_eq!(call(breaker, true).await, Err(Failure::Failed));
                        }
                        assert_eq!(
                            breaker.state(),
                            BreakerState::Open,
                            "opened by its own failures"
                        );
                        assert_eq!(call(breaker, false).await, Err(Failure::Rejected));
                    }
                    // Five batches: time enough for the cluster to open, had it to.
                    tokio::time::sleep(BATCH * 5).await;
                    assert!(!backend.is_degraded());
                    breaker.state()
                })
            })
        })
        .collect();
    let states: Vec<_> = replicas.into_iter().map(|r| r.join().unwrap()).collect();
    assert_eq!(
        states,
        [
            BreakerState::Open,
            BreakerState::Closed,
            BreakerState::Closed
        ]
    );
}

/// Three replicas call on while the cluster's breaker is open and the dependency still fails:
/// after each recovery timeout, one replica at a time gets the trial (never two at once, and no
/// more trials than openings). Once the dependency answers, the trial closes the cluster's
/// breaker and every replica's.
#[test]
fn trials_are_leased_to_one_replica_at_a_time_and_the_closing_reaches_every_replica() {
    let server = Server::start();
    let (url, prefix) = (server.url(), prefix("trials"));
    let recovery = Duration::from_millis(400);
    let config = BreakerConfig::new()
        .failure_rate(0.5)
        .minimum_calls(6)
        .time_window(Duration::from_secs(10))
        .recovery_timeout(recovery);
    let failing = Arc::new(AtomicBool::new(true));
    // Trials running now, the most at once, and how many ran.
    let running = Arc::new(AtomicU32::new(0));
    let most = Arc::new(AtomicU32::new(0));
    let trials = Arc::new(AtomicU32::new(0));
    let opened = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let recovers_at = Duration::from_millis(2500);
    let replicas: Vec<_> = (0..3)
        .map(|_| {
            let (url, prefix) = (url.clone(), prefix.clone());
            let (failing, running, most, trials, opened) = (
                Arc::clone(&failing),
                Arc::clone(&running),
                Arc::clone(&most),
                Arc::clone(&trials),
                Arc::clone(&opened),
            );
            std::thread::spawn(move || {
                runtime().block_on(async {
                    let (breaker, _backend) =
                        replica("cluster.trials", config, &url, &prefix, OnFailure::Local);
                    let mut closed_again = None;
                    while start.elapsed() < recovers_at + Duration::from_millis(1500) {
                        if start.elapsed() >= recovers_at {
                            failing.store(false, SeqCst);
                        }
                        let outcome = breaker
                            .call(async {
                                let fails = failing.load(SeqCst);
                                // A call made once the cluster's breaker opened is a trial.
                                let trial = opened.load(SeqCst) && fails;
                                if trial {
                                    trials.fetch_add(1, SeqCst);
                                    most.fetch_max(running.fetch_add(1, SeqCst) + 1, SeqCst);
                                }
                                tokio::time::sleep(Duration::from_millis(30)).await;
                                if trial {
                                    running.fetch_sub(1, SeqCst);
                                }
                                if fails { Err(Failure::Failed) } else { Ok(()) }
                            })
                            .await;
                        match outcome {
                            Err(Failure::Rejected) => {
                                opened.store(true, SeqCst);
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                            Ok(()) if closed_again.is_none() => {
                                closed_again = Some(start.elapsed());
                            }
                            _ => {}
                        }
                    }
                    (breaker.state(), closed_again)
                })
            })
        })
        .collect();
    let ends: Vec<_> = replicas.into_iter().map(|r| r.join().unwrap()).collect();
    assert!(opened.load(SeqCst), "the cluster's breaker never opened");
    assert_eq!(most.load(SeqCst), 1, "two trials ran at once");
    // The opening came within the first second; then one trial per recovery timeout at most.
    let trials = trials.load(SeqCst);
    let most_trials = (recovers_at.as_millis() / recovery.as_millis()) as u32;
    assert!(
        (1..=most_trials).contains(&trials),
        "{trials} trials, at most {most_trials}"
    );
    for (state, closed_again) in ends {
        assert_eq!(state, BreakerState::Closed);
        let closed_again = closed_again.expect("a replica never called again");
        // The first trial after the recovery, then the published closing.
        assert!(
            closed_again < recovers_at + recovery + BATCH * 3,
            "closed again at {closed_again:?}"
        );
    }
}

/// The cluster's breaker holds a replica's open; the server stops. With `on_redis_failure =
/// local`, the replica's own breaker decides again: it lets a trial through at the cluster's
/// deadline. Calls never wait on the server. The server back, the counts start over and the
/// cluster opens again on new failures.
#[test]
fn a_stopped_server_leaves_the_replica_to_its_own_breaker_until_it_is_back() {
    let server = Server::start();
    let port = server.port;
    let prefix = prefix("stopped");
    let config = BreakerConfig::new()
        .failure_rate(0.5)
        .minimum_calls(4)
        .time_window(Duration::from_secs(10))
        .recovery_timeout(Duration::from_millis(1500));
    runtime().block_on(async {
        let (breaker, backend) = replica(
            "cluster.stopped",
            config,
            &server.url(),
            &prefix,
            OnFailure::Local,
        );
        let (other, _other_backend) = replica(
            "cluster.stopped",
            config,
            &server.url(),
            &prefix,
            OnFailure::Local,
        );
        // Two failures each: neither opens alone (four calls needed), the cluster does.
        for breaker in [breaker, other] {
            for _ in 0..2 {
                assert_eq!(call(breaker, true).await, Err(Failure::Failed));
            }
        }
        within(Duration::from_secs(3), || {
            breaker.state() == BreakerState::Open
        })
        .await
        .expect("the cluster's breaker did not open");
        // The cluster's deadline, as a rejection tells it.
        let rejected = breaker.try_acquire().unwrap_err();
        let trial_at = Instant::now() + rejected.retry_after().unwrap();
        drop(server);
        within(Duration::from_secs(3), || backend.is_degraded())
            .await
            .expect("the failure was not noticed");
        // Its own breaker waits out the cluster's deadline, then trials on its own.
        assert_eq!(call(breaker, false).await, Err(Failure::Rejected));
        within(Duration::from_secs(4), || {
            breaker.try_acquire().map(|permit| permit.success()).is_ok()
        })
        .await
        .expect("the replica's own breaker never let a trial through");
        let early = trial_at.saturating_duration_since(Instant::now());
        assert!(early < Duration::from_millis(20), "a trial {early:?} early");
        assert_eq!(breaker.state(), BreakerState::Closed);
        // The other replica's breaker, on its own too, closes on its own trial.
        within(Duration::from_secs(1), || {
            other.try_acquire().map(|permit| permit.success()).is_ok()
        })
        .await
        .expect("the other replica's breaker never let a trial through");
        assert_eq!(other.state(), BreakerState::Closed);

        let _server = Server::on(port);
        within(Duration::from_secs(5), || !backend.is_degraded())
            .await
            .expect("the server was not used again");
        // The restarted server forgot everything: new failures of both open the cluster again
        // (each breaker reset first, so that its own window cannot open it).
        for breaker in [breaker, other] {
            breaker.reset();
        }
        for breaker in [breaker, other] {
            for _ in 0..2 {
                assert_eq!(call(breaker, true).await, Err(Failure::Failed));
            }
        }
        within(Duration::from_secs(3), || {
            breaker.state() == BreakerState::Open && other.state() == BreakerState::Open
        })
        .await
        .expect("the cluster's breaker did not open again");
    });
}

/// A slow server (`DEBUG SLEEP`) or one that cannot be reached: calls go on at their own pace,
/// for the breaker never waits on the network; the backend says it is degraded.
#[test]
fn calls_never_wait_on_a_slow_or_unreachable_server() {
    let server = Server::start();
    let config = BreakerConfig::new().failure_threshold(100);
    let rt = runtime();
    rt.block_on(async {
        let (breaker, backend) = replica(
            "cluster.slow",
            config,
            &server.url(),
            &prefix("slow"),
            OnFailure::Local,
        );
        let (dead, dead_backend) = replica(
            "cluster.unreachable",
            config,
            &format!("redis://127.0.0.1:{}", free_port()),
            &prefix("unreachable"),
            OnFailure::Local,
        );
        let sleeper = server.busy_for(2);
        let start = Instant::now();
        let mut calls = 0;
        while start.elapsed() < Duration::from_millis(1500) {
            for breaker in [breaker, dead] {
                let call_started = Instant::now();
                let _ = call(breaker, calls % 2 == 0).await;
                assert!(call_started.elapsed() < Duration::from_millis(100));
            }
            calls += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(calls > 50, "{calls} calls");
        assert!(
            backend.is_degraded(),
            "a 2 s sleep is past the 500 ms timeout"
        );
        assert!(dead_backend.is_degraded());
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(dead.state(), BreakerState::Closed);
        sleeper.join().unwrap();
    });
}

/// With `on_redis_failure = closed`, a server that fails holds the breaker open: every call is
/// rejected until it answers again.
#[test]
fn failing_closed_rejects_every_call_while_the_server_fails() {
    let server = Server::start();
    let port = server.port;
    runtime().block_on(async {
        let (breaker, backend) = replica(
            "cluster.closed",
            BreakerConfig::new(),
            &server.url(),
            &prefix("closed"),
            OnFailure::Closed,
        );
        assert_eq!(call(breaker, false).await, Ok(()));
        drop(server);
        within(Duration::from_secs(3), || {
            breaker.state() == BreakerState::Open
        })
        .await
        .expect("not held open");
        assert!(backend.is_degraded());
        assert_eq!(call(breaker, false).await, Err(Failure::Rejected));
        let _server = Server::on(port);
        within(Duration::from_secs(5), || {
            breaker.state() == BreakerState::Closed
        })
        .await
        .expect("not closed once the server answered");
        assert_eq!(call(breaker, false).await, Ok(()));
    });
}

/// The backend named by the configuration: two breakers of one name (two replicas in one
/// process), registered and given `redis_url`, `redis_prefix` and `redis_batch` through the
/// registry, open together on failures neither has enough of alone; while the server is down,
/// the health check names them.
#[test]
fn a_breaker_shared_by_configuration_opens_with_the_cluster() {
    use resilient::health::{self, HealthChecks, Status};
    use resilient::registry;
    let server = Server::start();
    let config = BreakerConfig::new().failure_threshold(3);
    let replicas: Vec<&'static CircuitBreaker> = (0..2)
        .map(|_| &*Box::leak(Box::new(CircuitBreaker::new("cluster.configured", config))))
        .collect();
    for breaker in &replicas {
        registry::register(*breaker);
    }
    let prefix = prefix("configured");
    let err = registry::set("cluster.configured", "redis_batch", "0s").unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy `cluster.configured`: cannot set `redis_batch` to `0s`: `redis_batch` must be above zero"
    );
    let rt = runtime();
    rt.block_on(async {
        registry::set("cluster.configured", "redis_url", &server.url()).unwrap();
        registry::set("cluster.configured", "redis_prefix", &prefix).unwrap();
        registry::set("cluster.configured", "redis_batch", "100ms").unwrap();
        let info = registry::policies()
            .into_iter()
            .find(|p| p.name == "cluster.configured")
            .unwrap();
        assert_eq!(info.config["redis_url"], server.url());
        assert_eq!(info.config["redis_prefix"], prefix);
        assert_eq!(info.config["redis_batch"], "100ms");
        assert_eq!(info.config["on_redis_failure"], "local");
        // Two failures each: three in a row open a breaker, the cluster has four, no success.
        for breaker in &replicas {
            for _ in 0..2 {
                assert_eq!(call(breaker, true).await, Err(Failure::Failed));
            }
        }
        within(Duration::from_secs(3), || {
            replicas.iter().all(|b| b.state() == BreakerState::Open)
        })
        .await
        .expect("the cluster's breaker did not open both");
        drop(server);
        let checks =
            HealthChecks::new().add("shared", Duration::from_secs(1), health::shared_backends());
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let report = checks.run().await;
            let check = &report.checks()[0];
            if check.status() == Status::Degraded
                && check.message().contains("`cluster.configured`")
            {
                break;
            }
            assert!(Instant::now() < deadline, "{}", check.message());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

/// No server at the address when the breakers are shared: each decides alone and the backend
/// says it is degraded; once a server starts there, the replicas join the cluster's decision,
/// which opens both on failures neither has enough of alone.
#[test]
fn a_server_unreachable_at_start_is_joined_once_it_answers() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let config = BreakerConfig::new()
        .failure_rate(0.5)
        .minimum_calls(4)
        .time_window(Duration::from_secs(10))
        .recovery_timeout(Duration::from_secs(60));
    runtime().block_on(async {
        let prefix = prefix("late");
        let (first, backend) = replica("cluster.late", config, &url, &prefix, OnFailure::Local);
        let (second, _) = replica("cluster.late", config, &url, &prefix, OnFailure::Local);
        within(Duration::from_secs(3), || backend.is_degraded())
            .await
            .expect("the missing server was not noticed");
        assert_eq!(first.state(), BreakerState::Closed);
        let _server = Server::on(port);
        within(Duration::from_secs(5), || !backend.is_degraded())
            .await
            .expect("the server was not joined");
        for breaker in [first, second] {
            for _ in 0..2 {
                assert_eq!(call(breaker, true).await, Err(Failure::Failed));
            }
        }
        within(Duration::from_secs(3), || {
            first.state() == BreakerState::Open && second.state() == BreakerState::Open
        })
        .await
        .expect("the cluster's breaker did not open both");
    });
}

/// Held open by `on_redis_failure = closed` while the server named by the configuration cannot
/// be reached; once the configuration names no server, the breaker is its own again: it lets a
/// trial through (its task must not leave it held open as it ends).
#[test]
fn a_breaker_no_longer_shared_is_let_go_even_when_failing_closed() {
    use resilient::registry;
    let breaker: &'static CircuitBreaker = Box::leak(Box::new(CircuitBreaker::new(
        "cluster.unshared",
        BreakerConfig::new(),
    )));
    registry::register(breaker);
    let url = format!("redis://127.0.0.1:{}", free_port());
    runtime().block_on(async {
        // SAFETY: no other test of this binary reads these variables.
        unsafe {
            std::env::set_var("RESILIENT_CLUSTER_UNSHARED__REDIS_URL", &url);
            std::env::set_var("RESILIENT_CLUSTER_UNSHARED__ON_REDIS_FAILURE", "closed");
            std::env::set_var("RESILIENT_CLUSTER_UNSHARED__REDIS_BATCH", "50ms");
        }
        registry::reload().unwrap();
        within(Duration::from_secs(3), || {
            breaker.state() == BreakerState::Open
        })
        .await
        .expect("not held open while the server cannot be reached");
        unsafe { std::env::remove_var("RESILIENT_CLUSTER_UNSHARED__REDIS_URL") };
        registry::reload().unwrap();
        within(Duration::from_secs(3), || {
            breaker.try_acquire().map(|permit| permit.success()).is_ok()
        })
        .await
        .expect("still held open by a cluster it no longer shares");
        assert_eq!(breaker.state(), BreakerState::Closed);
        unsafe {
            std::env::remove_var("RESILIENT_CLUSTER_UNSHARED__ON_REDIS_FAILURE");
            std::env::remove_var("RESILIENT_CLUSTER_UNSHARED__REDIS_BATCH");
        }
    });
}
