//! What compiles and what does not, with the compiler's messages reviewed in `.stderr` files.
//! Regenerate with `TRYBUILD=overwrite cargo test -p resilient-ui-tests` and read every diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/pass/*.rs");
    cases.compile_fail("tests/fail/*.rs");
}
