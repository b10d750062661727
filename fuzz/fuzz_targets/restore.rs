//! `fs::restore` on any tar stream (gzipped here: the subject is the restore, not the gzip
//! decoder), over a target with prior content. Whatever the input, no panic, nothing changes
//! outside the target, and the target holds its old content or exactly what the archive holds
//! (the oracle of the `fuzz_restore` property test).
#![no_main]

// `Case::outside` serves the property test's hand-built archives, not this target.
#[allow(dead_code)]
#[path = "../../resilient/tests/restore_oracle/mod.rs"]
mod restore_oracle;

use flate2::Compression;
use flate2::write::GzEncoder;
use libfuzzer_sys::fuzz_target;
use restore_oracle::Case;
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

fn harness() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("resilient-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

fuzz_target!(|tar: &[u8]| {
    let case = Case::new(harness(), 0);
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(tar).unwrap();
    let case = case.with_archive(gz.finish().unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let restored = runtime.block_on(resilient::fs::restore(case.archive(), case.target()));
    if let Err(broken) = case.verify(&restored) {
        panic!("{broken}");
    }
});
