//! The duration grammar, through the registry: any text is a duration or an error value, and a
//! duration accepted is shown in a form that reads back as the same duration.

#![no_main]

use libfuzzer_sys::fuzz_target;
use resilient::registry;

fuzz_target!(|text: &str| {
    resilient_fuzz::register();
    for (name, key) in [
        ("fuzz", "timeout"),
        ("fuzz", "budget"),
        ("fuzz", "recovery_timeout"),
    ] {
        match registry::set(name, key, text) {
            Ok(()) => resilient_fuzz::check(),
            Err(err) => assert_eq!((err.key(), err.value()), (key, text)),
        }
    }
    let backoff = format!("exponential({text}, 1h)");
    if let Err(err) = registry::set("fuzz", "backoff", &backoff) {
        assert_eq!(err.value(), backoff);
    }
    resilient_fuzz::check();
});
