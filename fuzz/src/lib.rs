//! What every target checks after feeding the registry: the oracle the `fuzz_config` property
//! test uses too.

#[path = "../../resilient/tests/config_oracle/mod.rs"]
mod config_oracle;

pub use config_oracle::{configs, register, shown_as_toml};

/// The policies keep a configuration they accept, and what they show round-trips.
pub fn check() {
    config_oracle::assert_valid();
    config_oracle::assert_round_trip();
}
