//! TOML files fed to `registry::load_file`. No panic; a file that is refused changes nothing;
//! whatever a file puts in force keeps the policies valid and round-trips, through code and
//! through a file written from what the registry shows.

#![no_main]

use libfuzzer_sys::fuzz_target;
use resilient::registry;
use std::path::PathBuf;
use std::sync::LazyLock;

static FILE: LazyLock<PathBuf> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("resilient-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("resilient.toml")
});

fuzz_target!(|text: &[u8]| {
    resilient_fuzz::register();
    std::fs::write(&*FILE, text).unwrap();
    let before = resilient_fuzz::configs();
    if let Err(errors) = registry::load_file(&*FILE) {
        if errors.iter().any(|e| e.key() == "file") {
            assert_eq!(
                resilient_fuzz::configs(),
                before,
                "a refused file changed something"
            );
        }
    }
    resilient_fuzz::check();

    // The configuration in force, written as a file, reads back unchanged.
    let shown = resilient_fuzz::configs();
    let again = resilient_fuzz::shown_as_toml();
    std::fs::write(&*FILE, again).unwrap();
    assert_eq!(registry::load_file(&*FILE), Ok(()));
    assert_eq!(resilient_fuzz::configs(), shown);
    std::fs::write(&*FILE, "").unwrap();
    let _ = registry::load_file(&*FILE);
});
