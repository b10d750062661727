//! `#[atomic]`: compensations registered in an annotated function run when it fails, in reverse
//! order; nested annotated functions are savepoints; it stacks with the other attributes.

use resilient::atomic::on_rollback;
use resilient::{atomic, retry};
use std::sync::Mutex;

/// A tiny "database": rows added by the functions under test.
struct Table(Mutex<Vec<String>>);

impl Table {
    const fn new() -> Self {
        Table(Mutex::new(Vec::new()))
    }

    /// Inserts a row and registers its removal in the current atomic scope.
    fn insert(&'static self, row: &str) {
        self.0.lock().unwrap().push(row.to_owned());
        let row = row.to_owned();
        on_rollback(move || self.0.lock().unwrap().retain(|r| *r != row));
    }

    fn rows(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

static ORDERS: Table = Table::new();

#[atomic]
async fn place_order(id: u32, lines: &[&str]) -> Result<(), String> {
    ORDERS.insert(&format!("order {id}"));
    for line in lines {
        if line.is_empty() {
            return Err(format!("order {id}: empty line"));
        }
        ORDERS.insert(&format!("order {id}: {line}"));
    }
    Ok(())
}

#[tokio::test]
async fn a_failed_function_leaves_nothing_behind_and_a_good_one_commits() {
    place_order(1, &["apples", "pears"]).await.unwrap();
    let err = place_order(2, &["plums", ""]).await.unwrap_err();
    assert_eq!(err, "order 2: empty line");
    assert_eq!(
        ORDERS.rows(),
        ["order 1", "order 1: apples", "order 1: pears"]
    );
}

static LEDGER: Table = Table::new();

#[atomic]
fn post(entry: &str) -> Result<(), &'static str> {
    LEDGER.insert(entry);
    if entry.contains("overdraft") {
        Err("refused")
    } else {
        Ok(())
    }
}

#[atomic]
fn transfer(amount: u32, fail_late: bool) -> Result<(), &'static str> {
    post(&format!("debit {amount}"))?;
    // A savepoint that fails: only its own entry is undone, the transfer goes on.
    assert_eq!(post("overdraft fee"), Err("refused"));
    post(&format!("credit {amount}"))?;
    if fail_late {
        Err("audit failed")
    } else {
        Ok(())
    }
}

#[test]
fn nested_functions_are_savepoints_and_commit_into_their_caller() {
    transfer(10, false).unwrap();
    assert_eq!(LEDGER.rows(), ["debit 10", "credit 10"]);
    assert_eq!(transfer(20, true), Err("audit failed"));
    assert_eq!(
        LEDGER.rows(),
        ["debit 10", "credit 10"],
        "the committed savepoints rolled back with it"
    );
}

static ATTEMPTS: Table = Table::new();
static TRIES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[retry(max_attempts = 3, backoff = none)]
#[atomic]
async fn flaky_import() -> Result<u32, String> {
    let n = TRIES.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    ATTEMPTS.insert(&format!("attempt {n}"));
    if n < 3 {
        Err(format!("attempt {n} failed"))
    } else {
        Ok(n)
    }
}

#[tokio::test]
async fn under_a_retry_each_failed_attempt_is_undone_before_the_next() {
    assert_eq!(flaky_import().await, Ok(3));
    assert_eq!(ATTEMPTS.rows(), ["attempt 3"]);
}

static CANCELLED: Table = Table::new();

#[atomic]
async fn slow_migration() -> Result<(), String> {
    CANCELLED.insert("step 1");
    std::future::pending::<()>().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_function_is_rolled_back() {
    let timed_out = tokio::time::timeout(std::time::Duration::from_secs(1), slow_migration()).await;
    assert!(timed_out.is_err());
    assert!(CANCELLED.rows().is_empty());
}
