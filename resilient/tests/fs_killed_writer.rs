//! Atomicity of `write_atomic` under SIGKILL: a writer in a child process is killed in the middle
//! of writing, and the file is always the whole old or the whole new version, never a partial
//! one. This shows the rename is atomic for other processes; it does not (and cannot, here) show
//! durability across a power loss, which rests on the `fsync` calls.
//!
//! The child is this test binary itself, run again with `RESILIENT_KILLED_WRITER` set, which
//! turns `killed_writer` from a no-op into an endless writer. No kill depends on timing luck: the
//! child is stopped (SIGSTOP), and killed only once it is seen stopped with its temp file present,
//! that is between creating the temp file and renaming it.
#![cfg(unix)]

use resilient::fs::write_atomic_blocking;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const WRITER_ENV: &str = "RESILIENT_KILLED_WRITER";
const ROUNDS: usize = 12;
/// Stops of a writer before it is caught mid-write, at most: it spends nearly all its time there.
const MAX_STOPS: usize = 10_000;
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

/// The writer: writes version 0, says so on stdout, then writes 1, 0, 1, ... until it is killed.
/// A no-op in a normal test run.
#[test]
fn killed_writer() {
    let Some(target) = std::env::var_os(WRITER_ENV) else {
        return;
    };
    let target = PathBuf::from(target);
    let versions = [version(0), version(1)];
    for n in 0usize.. {
        write_atomic_blocking(&target, &versions[n % 2]).unwrap();
        if n == 0 {
            let mut out = std::io::stdout();
            writeln!(out, "{READY}").unwrap();
            out.flush().unwrap();
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

impl Writer {
    /// Sends `signal` to the writer.
    fn signal(&self, signal: libc::c_int) {
        let pid = self.0.id() as libc::pid_t;
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill({signal})");
    }

    /// Stops the writer and waits until it is stopped: nothing it does changes the files then.
    fn stop(&self) {
        self.signal(libc::SIGSTOP);
        let mut status = 0;
        let pid = self.0.id() as libc::pid_t;
        assert_eq!(
            unsafe { libc::waitpid(pid, &mut status, libc::WUNTRACED) },
            pid
        );
        assert!(
            libc::WIFSTOPPED(status),
            "the writer ended: status {status}"
        );
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
fn a_killed_writer_leaves_the_old_or_new_file_never_a_partial_one() {
    let dir = std::env::temp_dir().join(format!("resilient-fs-killed-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let target = dir.join(TARGET);
    let versions = [version(0), version(1)];
    let exe = std::env::current_exe().unwrap();

    let (mut reads, mut stops, mut partial_lens) = (0, 0, Vec::new());
    for round in 0..ROUNDS {
        let before = leftovers(&dir);
        let mut writer = Writer(
            Command::new(&exe)
                .args([
                    "killed_writer",
                    "--exact",
                    "--test-threads=1",
                    "--nocapture",
                ])
                .env(WRITER_ENV, &target)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        // Wait until the writer's first write is done: from then on the file must always exist.
        let mut out = BufReader::new(writer.0.stdout.take().unwrap());
        let mut line = String::new();
        while !line.trim_end().ends_with(READY) {
            line.clear();
            let read = out.read_line(&mut line).unwrap();
            assert_ne!(
                read, 0,
                "round {round}: the writer ended before its first write"
            );
        }

        // Stop it until it is caught between creating its temp file and renaming it; read the
        // file while it runs: never a partial or missing file.
        let mut caught = None;
        for _ in 0..MAX_STOPS {
            let bytes = fs::read(&target).expect("the file is missing while the writer runs");
            which(&bytes, &versions, "while writing");
            reads += 1;
            writer.stop();
            stops += 1;
            let new: Vec<PathBuf> = leftovers(&dir)
                .into_iter()
                .filter(|path| !before.contains(path))
                .collect();
            if let [temp] = new.as_slice() {
                caught = Some(temp.clone());
                break;
            }
            assert!(new.is_empty(), "one writer has {} temp files", new.len());
            writer.signal(libc::SIGCONT);
        }
        let temp = caught.expect("the writer was never caught mid-write");
        writer.0.kill().unwrap(); // SIGKILL, delivered to the stopped writer
        writer.0.wait().unwrap();

        which(
            &fs::read(&target).expect("the file is missing after the kill"),
            &versions,
            &format!("after the kill in round {round}"),
        );
        // What the killed writer leaves is its temp file: the start of a version, never read by
        // anyone, and nothing else.
        let partial = fs::read(&temp).unwrap();
        assert!(versions.iter().any(|v| v.starts_with(&partial)));
        partial_lens.push(partial.len());
        let mut expected = before;
        expected.push(temp);
        expected.sort();
        assert_eq!(leftovers(&dir), expected);
    }

    // The leftovers do not disturb the next write, which leaves them alone.
    let left = leftovers(&dir);
    assert_eq!(left.len(), ROUNDS);
    write_atomic_blocking(&target, &versions[1]).unwrap();
    assert_eq!(fs::read(&target).unwrap(), versions[1]);
    assert_eq!(leftovers(&dir), left);

    partial_lens.sort_unstable();
    println!(
        "{ROUNDS} writers killed mid-write ({stops} stops, {reads} reads while writing); the file \
         was whole every time; the partial temp files held {} to {} bytes",
        partial_lens[0],
        partial_lens[ROUNDS - 1],
    );
    fs::remove_dir_all(&dir).unwrap();
}
