//! Crash safety of `write_atomic`: a writer in a child process is killed with SIGKILL at many
//! different moments, and the file is always a whole old or a whole new version.
//!
//! The child is this test binary itself, run again with `RESILIENT_CRASH_WRITER` set, which
//! turns `crash_writer` from a no-op into an endless writer.
#![cfg(unix)]

use resilient::fs::write_atomic_blocking;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WRITER_ENV: &str = "RESILIENT_CRASH_WRITER";
const ROUNDS: u32 = 30;
/// The kill comes 0, 2, 4, ... ms after the writer's first write, plus up to 2 ms of jitter.
const STEP_US: u64 = 2_000;
const TARGET: &str = "data.bin";
const READY: &str = "writer-ready";

/// Version `generation` (0 or 1) of the file: large, of distinct lengths, with a pattern that
/// differs between versions in every block.
fn version(generation: u8) -> Vec<u8> {
    let len = [2 << 20, 3 << 20][usize::from(generation)] + 4099 * usize::from(generation) + 3;
    let mut bytes: Vec<u8> = (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8 ^ (generation.wrapping_mul(0x5b) | 1))
        .collect();
    bytes[..16].copy_from_slice(&[
        b'v', generation, b'-', b'-', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    bytes[4..12].copy_from_slice(&(len as u64).to_le_bytes());
    bytes
}

/// The writer: writes version 0, 1, 0, 1, ... until it is killed. A no-op in a normal test run.
#[test]
fn crash_writer() {
    let Some(target) = std::env::var_os(WRITER_ENV) else {
        return;
    };
    let target = PathBuf::from(target);
    let versions = [version(0), version(1)];
    let ready = target.with_file_name(READY);
    for n in 0usize.. {
        write_atomic_blocking(&target, &versions[n % 2]).unwrap();
        if n == 0 {
            fs::write(&ready, "").unwrap();
        }
    }
}

/// Kills the child if the test fails half-way.
struct Writer(Child);

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Temp files of `write_atomic` for `TARGET` (what a killed writer leaves).
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let prefix = format!(".{TARGET}.");
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.starts_with(&prefix) && name.ends_with(".tmp")
        })
        .map(|entry| entry.path())
        .collect();
    found.sort();
    found
}

/// Which version `bytes` is; panics on anything else.
fn which(bytes: &[u8], versions: &[Vec<u8>; 2], when: &str) -> usize {
    versions.iter().position(|v| v == bytes).unwrap_or_else(|| {
        panic!(
            "{when}: the file is no whole version ({} bytes)",
            bytes.len()
        )
    })
}

#[test]
fn sigkill_never_leaves_a_partial_file() {
    let dir = std::env::temp_dir().join(format!("resilient-fs-crash-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let target = dir.join(TARGET);
    let ready = dir.join(READY);
    let versions = [version(0), version(1)];
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();

    let (mut killed_mid_write, mut reads, mut found) = (0, 0, [0; 2]);
    for round in 0..u64::from(ROUNDS) {
        let _ = fs::remove_file(&ready);
        let before = leftovers(&dir).len();
        let mut writer = Writer(
            Command::new(&exe)
                .args(["crash_writer", "--exact", "--test-threads=1", "--quiet"])
                .env(WRITER_ENV, &target)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        // Wait until the writer's first write is done: from then on the file must always exist.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ready.exists() {
            if let Some(status) = writer.0.try_wait().unwrap() {
                panic!("round {round}: the writer exited early: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: the writer never wrote"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        // Read while it writes, until the kill: never a partial or missing file.
        let delay = Duration::from_micros(round * STEP_US + fastrand::u64(0..STEP_US));
        let kill_at = Instant::now() + delay;
        while Instant::now() < kill_at {
            let bytes = fs::read(&target).expect("the file is missing while the writer runs");
            which(&bytes, &versions, "while writing");
            reads += 1;
        }
        writer.0.kill().unwrap(); // SIGKILL
        writer.0.wait().unwrap();

        let bytes = fs::read(&target).expect("the file is missing after the kill");
        found[which(
            &bytes,
            &versions,
            &format!("after the kill in round {round}"),
        )] += 1;
        let after = leftovers(&dir);
        assert!(
            after.len() <= before + 1,
            "one writer left {} temp files",
            after.len() - before
        );
        if after.len() > before {
            killed_mid_write += 1;
        }
        // What a killed writer leaves is the start of a version, never read by anyone.
        for leftover in &after {
            let partial = fs::read(leftover).unwrap();
            assert!(
                versions.iter().any(|v| v.starts_with(&partial)),
                "{}",
                leftover.display()
            );
        }
    }

    // The leftovers do not disturb the next write, which leaves them alone.
    let left = leftovers(&dir);
    write_atomic_blocking(&target, &versions[1]).unwrap();
    assert_eq!(fs::read(&target).unwrap(), versions[1]);
    assert_eq!(leftovers(&dir), left);

    println!(
        "{ROUNDS} rounds of SIGKILL, {killed_mid_write} killed mid-write (a temp file left), \
         {} left none; the file was whole every time: old/new version {}/{} after the kill, \
         {reads} reads while writing; {} leftover temp files; {:.1} s",
        ROUNDS - killed_mid_write,
        found[0],
        found[1],
        left.len(),
        started.elapsed().as_secs_f64(),
    );
    assert!(
        killed_mid_write > 0,
        "no kill landed during a write: the test proves nothing"
    );
    fs::remove_dir_all(&dir).unwrap();
}
