//! Environment variables: `RESILIENT_<input before '='>` set to the input after it, then read by
//! `registry::reload`. No panic; whatever is accepted or refused, the policies stay valid and
//! what they show round-trips.

#![no_main]

use libfuzzer_sys::fuzz_target;
use resilient::registry;

fuzz_target!(|input: &str| {
    resilient_fuzz::register();
    let (name, value) = input.split_once('=').unwrap_or((input, ""));
    let variable = format!("RESILIENT_{name}");
    if variable.contains('\0') || value.contains('\0') || variable.contains('=') {
        return; // Not a variable the environment can hold.
    }
    // SAFETY: a fuzz target runs on one thread.
    unsafe { std::env::set_var(&variable, value) };
    if let Err(errors) = registry::reload() {
        assert!(errors.iter().all(|e| !e.to_string().is_empty()));
    }
    resilient_fuzz::check();
    unsafe { std::env::remove_var(&variable) };
    let _ = registry::reload();
});
