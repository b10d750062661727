//! Which keys a policy takes from each source, and in what order they combine: a `backoff` keeps
//! the `jitter` and `factor` given with it; a key that no policy of a name takes is refused.
//!
//! A binary of its own: it loads its own TOML file and sets the process's environment, and the
//! registry keeps one file and one environment for the whole process. Its tests take turns.

mod common;

use common::{ms, temp_dir};
use resilient::registry::{self, SettingError};
use resilient::{Backoff, BreakerConfig, CircuitBreaker, RetryPolicy};
use std::sync::{Mutex, MutexGuard, PoisonError};

static SOURCES: Mutex<()> = Mutex::new(());

fn sources_alone() -> MutexGuard<'static, ()> {
    SOURCES.lock().unwrap_or_else(PoisonError::into_inner)
}

fn leaked_retry(name: String) -> &'static RetryPolicy {
    Box::leak(Box::new(RetryPolicy::new().name(name.leak())))
}

fn with_backoff(name: &'static str, backoff: Backoff) -> RetryPolicy {
    RetryPolicy::new().name(name).backoff(backoff)
}

/// The backoff every test below asks for, one key at a time.
fn asked() -> Backoff {
    Backoff::exponential(ms(100), ms(5000))
        .factor(3.0)
        .jitter(0.1)
}

#[test]
fn backoff_from_code_keeps_jitter_and_factor_set_before_or_after_it() {
    let before = leaked_retry("keys.code.refinements_first".into());
    let after = leaked_retry("keys.code.backoff_first".into());
    registry::register(before);
    registry::register(after);
    let name = before.policy_name();
    registry::set(name, "jitter", "0.1").unwrap();
    registry::set(name, "factor", "3").unwrap();
    registry::set(name, "backoff", "exponential(100ms, 5s)").unwrap();
    assert_eq!(*before, with_backoff(name, asked()));

    let name = after.policy_name();
    registry::set(name, "backoff", "exponential(100ms, 5s)").unwrap();
    registry::set(name, "factor", "3").unwrap();
    registry::set(name, "jitter", "0.1").unwrap();
    assert_eq!(*after, with_backoff(name, asked()));

    // A new backoff later still keeps them.
    registry::set(name, "backoff", "exponential(200ms, 5s)").unwrap();
    let longer = Backoff::exponential(ms(200), ms(5000))
        .factor(3.0)
        .jitter(0.1);
    assert_eq!(*after, with_backoff(name, longer));
}

#[test]
fn backoff_keeps_jitter_and_factor_whichever_source_gives_each() {
    let _alone = sources_alone();
    let sources = ["file", "env", "code"];
    let dir = temp_dir("registry-keys-sources");
    let file = dir.join("resilient.toml");
    let mut toml = String::new();
    let mut policies = Vec::new();
    let mut code = Vec::new();
    // Every pair of sources: one gives `backoff`, the other `jitter` and `factor`.
    for backoff_from in sources {
        for refinements_from in sources {
            let name = format!("keys.{backoff_from}_backoff.{refinements_from}_refinements");
            let policy = leaked_retry(name.clone());
            let mut values = vec![("backoff", "exponential(100ms, 5s)")];
            values.extend([("jitter", "0.1"), ("factor", "3")]);
            for (key, value) in values {
                let from = if key == "backoff" {
                    backoff_from
                } else {
                    refinements_from
                };
                match from {
                    "file" => toml.push_str(&format!("[\"{name}\"]\n{key} = \"{value}\"\n")),
                    "env" => {
                        let variable = format!(
                            "RESILIENT_{}__{}",
                            name.to_uppercase().replace('.', "_"),
                            key.to_uppercase()
                        );
                        // SAFETY: the tests of this binary that touch the environment take turns.
                        unsafe { std::env::set_var(variable, value) };
                    }
                    _ => code.push((policy.policy_name(), key, value)),
                }
            }
            policies.push(policy);
        }
    }
    // One table per policy: TOML refuses a table given twice.
    let toml = merge_tables(&toml);
    std::fs::write(&file, toml).unwrap();
    for policy in &policies {
        registry::register(*policy);
    }
    registry::load_file(&file).unwrap();
    registry::reload().unwrap();
    for (name, key, value) in code {
        registry::set(name, key, value).unwrap();
    }
    for policy in policies {
        let name = policy.policy_name();
        assert_eq!(*policy, with_backoff(name, asked()), "{name}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// `["a"]\nk = v\n["a"]\nl = w\n` as `["a"]\nk = v\nl = w\n`.
fn merge_tables(toml: &str) -> String {
    let mut tables: Vec<(String, Vec<String>)> = Vec::new();
    for line in toml.lines() {
        if line.starts_with('[') {
            if tables.last().is_none_or(|(header, _)| header != line) {
                tables.push((line.to_owned(), Vec::new()));
            }
        } else {
            tables.last_mut().unwrap().1.push(line.to_owned());
        }
    }
    tables
        .into_iter()
        .map(|(header, lines)| format!("{header}\n{}\n", lines.join("\n")))
        .collect()
}

#[cfg(not(feature = "redis"))]
const BREAKER_KEYS: &str = "failure_threshold, recovery_timeout, half_open_calls, success_threshold, failure_rate, minimum_calls, slow_call, slow_call_rate";
/// With `redis`, a breaker also takes the keys of its shared backend.
#[cfg(feature = "redis")]
const BREAKER_KEYS: &str = "failure_threshold, recovery_timeout, half_open_calls, success_threshold, failure_rate, minimum_calls, slow_call, slow_call_rate, redis_url, redis_prefix, on_redis_failure, redis_batch";
#[cfg(not(feature = "redis"))]
const RETRY_KEYS: &str = "max_attempts, backoff, jitter, factor, budget, retry_ratio";
/// With `redis`, a retry policy also takes the keys of its shared backend.
#[cfg(feature = "redis")]
const RETRY_KEYS: &str = "max_attempts, backoff, jitter, factor, budget, retry_ratio, redis_url, redis_prefix, on_redis_failure, redis_batch";

fn messages(errors: &[SettingError], policy: &str) -> Vec<String> {
    let mut mine: Vec<String> = (errors.iter())
        .filter(|e| e.policy() == policy)
        .map(ToString::to_string)
        .collect();
    mine.sort();
    mine
}

#[test]
fn a_key_no_policy_of_the_name_takes_is_refused_from_code() {
    static BREAKER: CircuitBreaker = CircuitBreaker::new("keys.code.breaker", BreakerConfig::new());
    static RETRY: RetryPolicy = RetryPolicy::new()
        .name("keys.code.retry")
        .backoff(Backoff::linear(ms(100), ms(1000)));
    registry::register(&BREAKER);
    registry::register(&RETRY);
    let err = registry::set("keys.code.breaker", "jitter", "0.5").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "policy `keys.code.breaker`: cannot set `jitter` to `0.5`: not a key of a circuit_breaker; its keys are {BREAKER_KEYS}"
        )
    );
    let err = registry::set("keys.code.retry", "failure_threshold", "3").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "policy `keys.code.retry`: cannot set `failure_threshold` to `3`: not a key of a retry; its keys are {RETRY_KEYS}"
        )
    );
    // `factor` is a retry's key, but a linear backoff has no factor.
    let err = registry::set("keys.code.retry", "factor", "3").unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy `keys.code.retry`: cannot set `factor` to `3`: `factor` applies only to an exponential backoff, and the backoff is linear(100ms, 1s)"
    );
    registry::set("keys.code.retry", "backoff", "decorrelated(10ms, 1s)").unwrap();
    let err = registry::set("keys.code.retry", "jitter", "0.2").unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy `keys.code.retry`: cannot set `jitter` to `0.2`: `jitter` applies only to an exponential, constant or linear backoff, and the backoff is decorrelated(10ms, 1s)"
    );
    assert_eq!(
        RETRY,
        with_backoff("keys.code.retry", Backoff::decorrelated(ms(10), ms(1000)))
    );
}

#[test]
fn a_key_no_policy_of_the_name_takes_is_refused_from_the_file_and_the_environment() {
    let _alone = sources_alone();
    static BREAKER: CircuitBreaker = CircuitBreaker::new("keys.file.breaker", BreakerConfig::new());
    static RETRY: RetryPolicy = RetryPolicy::new().name("keys.env.retry");
    static SHARED_BREAKER: CircuitBreaker =
        CircuitBreaker::new("keys.shared", BreakerConfig::new());
    static SHARED_RETRY: RetryPolicy = RetryPolicy::new().name("keys.shared");
    for breaker in [&BREAKER, &SHARED_BREAKER] {
        registry::register(breaker);
    }
    registry::register(&RETRY);
    registry::register(&SHARED_RETRY);
    let dir = temp_dir("registry-keys-refused");
    let file = dir.join("resilient.toml");
    std::fs::write(
        &file,
        "[\"keys.file.breaker\"]\njitter = 0.5\nfailure_threshold = 4\n\
         [\"keys.shared\"]\njitter = 0.5\nfailure_threshold = 4\ntimeout = \"1s\"\n",
    )
    .unwrap();
    // SAFETY: the tests of this binary that touch the environment take turns.
    unsafe { std::env::set_var("RESILIENT_KEYS_ENV_RETRY__FAILURE_THRESHOLD", "3") };

    let errors = registry::load_file(&file).unwrap_err();
    assert_eq!(
        messages(&errors, "keys.file.breaker"),
        [format!(
            "policy `keys.file.breaker`: cannot set `jitter` to `0.5`: not a key of a circuit_breaker; its keys are {BREAKER_KEYS}"
        )]
    );
    // The breaker and the retry of one name share its values, each taking its own keys: only
    // the key that neither takes is refused.
    assert_eq!(
        messages(&errors, "keys.shared"),
        [format!(
            "policy `keys.shared`: cannot set `timeout` to `1s`: not a key of a circuit_breaker or a retry; their keys are {BREAKER_KEYS}, {RETRY_KEYS}"
        )]
    );
    // The rest applies.
    assert_eq!(*BREAKER.config(), BreakerConfig::new().failure_threshold(4));
    assert_eq!(
        SHARED_RETRY,
        RetryPolicy::new()
            .name("keys.shared")
            .backoff(Backoff::default().jitter(0.5))
    );

    let errors = registry::reload().unwrap_err();
    assert_eq!(
        messages(&errors, "keys.env.retry"),
        [format!(
            "policy `keys.env.retry`: cannot set `failure_threshold` to `3`: not a key of a retry; its keys are {RETRY_KEYS}"
        )]
    );
    unsafe { std::env::remove_var("RESILIENT_KEYS_ENV_RETRY__FAILURE_THRESHOLD") };
    // Forget the variable before the next test reads the sources; the file's refusals stay.
    assert_eq!(
        messages(&registry::reload().unwrap_err(), "keys.env.retry"),
        [""; 0]
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_refused_value_from_the_environment_blocks_no_later_change() {
    let _alone = sources_alone();
    static BREAKER: CircuitBreaker = CircuitBreaker::new("keys.poison", BreakerConfig::new());
    registry::register(&BREAKER);
    // SAFETY: the tests of this binary that touch the environment take turns.
    unsafe { std::env::set_var("RESILIENT_KEYS_POISON__FAILURE_THRESHOLD", "many") };
    let errors = registry::reload().unwrap_err();
    unsafe { std::env::remove_var("RESILIENT_KEYS_POISON__FAILURE_THRESHOLD") };
    assert_eq!(
        messages(&errors, "keys.poison"),
        [
            "policy `keys.poison`: cannot set `failure_threshold` to `many`: `many` is not a whole number from 0 to 4294967295"
        ]
    );
    // Code is the strongest source, and the refused value is forgotten.
    registry::set("keys.poison", "recovery_timeout", "5s").unwrap();
    registry::set("keys.poison", "failure_threshold", "4").unwrap();

    // A refusal may name another key than the value at fault: rate mode's key on a breaker in
    // consecutive mode is refused as `failure_threshold`'s conflict. Forgotten all the same.
    unsafe { std::env::set_var("RESILIENT_KEYS_POISON__FAILURE_RATE", "0.5") };
    let errors = registry::reload().unwrap_err();
    unsafe { std::env::remove_var("RESILIENT_KEYS_POISON__FAILURE_RATE") };
    assert_eq!(messages(&errors, "keys.poison").len(), 1, "{errors:?}");
    registry::set("keys.poison", "half_open_calls", "1").unwrap();
    assert_eq!(
        *BREAKER.config(),
        BreakerConfig::new()
            .failure_threshold(4)
            .recovery_timeout(ms(5000))
    );
}

/// What a retry's builders refuse, the registry refuses too, and the policy keeps what it had.
#[test]
fn a_retry_refuses_at_run_time_what_its_builders_refuse() {
    static RETRY: RetryPolicy = RetryPolicy::new()
        .name("keys.refused.retry")
        .max_attempts(3);
    registry::register(&RETRY);
    for (key, value, reason) in [
        (
            "max_attempts",
            "0",
            "`max_attempts` must be at least 1 (got 0)",
        ),
        (
            "factor",
            "0.5",
            "`factor` must be a finite number of at least 1.0 (got 0.5)",
        ),
        (
            "jitter",
            "1.5",
            "`jitter` must be between 0.0 and 1.0 (got 1.5)",
        ),
    ] {
        let err = registry::set("keys.refused.retry", key, value).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("policy `keys.refused.retry`: cannot set `{key}` to `{value}`: {reason}")
        );
    }
    assert_eq!(
        RETRY,
        RetryPolicy::new()
            .name("keys.refused.retry")
            .max_attempts(3)
    );
}
