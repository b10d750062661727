//! `fs::restore` on arbitrary archives: hand-built ones (`..`, absolute paths, links out and in,
//! hard links, devices, FIFOs, sizes beyond the data) and real backups, then mutated (bytes
//! flipped in headers, with or without a fixed checksum, and anywhere in the tar or gzip stream;
//! both cut short). Each is restored over a target with prior content. Whatever the archive:
//!
//! - no panic;
//! - nothing changes outside the target (its siblings, the directory above them, no temp left);
//! - the target holds exactly its old content (the restore failed) or exactly what the archive
//!   holds, as the `tar` crate reads it (the restore succeeded): never a half-restored tree;
//! - a restored tree has no set-user-ID file and no symbolic link leading out of it.
//!
//! 256 cases by default, a few seconds; `PROPTEST_CASES=100000` runs longer.
#![cfg(unix)]

mod restore_oracle;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use proptest::prelude::*;
use proptest::sample::Index;
use resilient::fs::{backup, restore};
use restore_oracle::Case;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use tar::{EntryType, Header};

/// Where an absolute path of a generated entry points: the case's `outside` directory.
const OUTSIDE: &str = "@OUT";

/// One entry of a generated archive; paths and link texts are raw, `@OUT` standing for the
/// absolute path of the directory beside the target.
#[derive(Debug, Clone)]
enum Entry {
    Dir(String, u32),
    File(String, u32, Vec<u8>),
    /// A file whose header claims more bytes than follow.
    Huge(String, u64),
    Symlink(String, String),
    HardLink(String, String),
    /// A character device, block device or FIFO.
    Special(String, EntryType),
}

/// A change made to an archive before it is restored.
#[derive(Debug, Clone)]
enum Mutation {
    /// A byte of a header block set, the checksum fixed or not.
    Header(Index, usize, u8, bool),
    /// A byte of the tar stream set.
    TarByte(Index, u8),
    /// The tar stream cut.
    TarCut(Index),
    /// A byte of the gzip stream set.
    GzByte(Index, u8),
    /// The gzip stream cut.
    GzCut(Index),
}

/// A path of a few components: mostly plain ones inside, else any of `..`, `/` and the absolute
/// path of the `outside` directory.
fn raw_path() -> impl Strategy<Value = String> {
    prop_oneof![4 => path_from(&[""], &["a", "b", "d", "."]), 1 => path_from(
        &["", "/", "@OUT/"],
        &["a", "b", "d", "..", ".", "outside"]
    )]
}

fn path_from(
    starts: &[&'static str],
    components: &[&'static str],
) -> impl Strategy<Value = String> + use<> {
    let start = prop::sample::select(starts.to_vec());
    let parts = prop::collection::vec(prop::sample::select(components.to_vec()), 1..4);
    (start, parts, any::<bool>()).prop_map(|(start, parts, dir_slash)| {
        let mut path = format!("{start}{}", parts.join("/"));
        if dir_slash {
            path.push('/');
        }
        path
    })
}

fn entry() -> impl Strategy<Value = Entry> {
    let mode = prop::sample::select(vec![0o644, 0o600, 0o755, 0o4755, 0o2755, 0o000, 0o700]);
    let data = prop::collection::vec(any::<u8>(), 0..64);
    let special = prop::sample::select(vec![EntryType::Char, EntryType::Block, EntryType::Fifo]);
    prop_oneof![
        1 => (raw_path(), mode.clone()).prop_map(|(path, mode)| Entry::Dir(path, mode)),
        3 => (raw_path(), mode, data).prop_map(|(path, mode, data)| Entry::File(path, mode, data)),
        1 => (raw_path(), 1u64..u64::from(u32::MAX)).prop_map(|(path, size)| Entry::Huge(path, size)),
        2 => (raw_path(), raw_path()).prop_map(|(path, to)| Entry::Symlink(path, to)),
        1 => (raw_path(), raw_path()).prop_map(|(path, to)| Entry::HardLink(path, to)),
        1 => (raw_path(), special).prop_map(|(path, kind)| Entry::Special(path, kind)),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0..512usize, any::<u8>(), any::<bool>())
            .prop_map(|(block, at, byte, fix)| Mutation::Header(block, at, byte, fix)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Mutation::TarByte(at, byte)),
        1 => any::<Index>().prop_map(Mutation::TarCut),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Mutation::GzByte(at, byte)),
        1 => any::<Index>().prop_map(Mutation::GzCut),
    ]
}

/// The tar stream an archive starts from: generated entries, or a real backup.
#[derive(Debug, Clone)]
enum Base {
    Generated(bool, Vec<Entry>),
    Real(Index),
}

fn base() -> impl Strategy<Value = Base> {
    prop_oneof![
        3 => (any::<bool>(), prop::collection::vec(entry(), 0..8))
            .prop_map(|(root, entries)| Base::Generated(root, entries)),
        1 => any::<Index>().prop_map(Base::Real),
    ]
}

/// The tar stream of `entries`, paths written as raw bytes (the `tar` crate's setters refuse
/// `..` and absolute paths), with a `./` root first if `root`.
fn tar_of(root: bool, entries: &[Entry], outside: &Path) -> Vec<u8> {
    let outside = outside.to_str().unwrap();
    let mut tar = Vec::new();
    let root = root.then(|| Entry::Dir("./".to_owned(), 0o755));
    for entry in root.iter().chain(entries) {
        let (kind, name, link, mode, data, size): (_, &str, &str, u32, &[u8], u64) = match entry {
            Entry::Dir(name, mode) => (EntryType::Directory, name, "", *mode, &[], 0),
            Entry::File(name, mode, data) => {
                (EntryType::Regular, name, "", *mode, data, data.len() as u64)
            }
            Entry::Huge(name, size) => (EntryType::Regular, name, "", 0o644, b"short", *size),
            Entry::Symlink(name, to) => (EntryType::Symlink, name, to, 0o777, &[], 0),
            Entry::HardLink(name, to) => (EntryType::Link, name, to, 0o644, &[], 0),
            Entry::Special(name, kind) => (*kind, name, "", 0o644, &[], 0),
        };
        let (name, link) = (
            name.replace(OUTSIDE, outside),
            link.replace(OUTSIDE, outside),
        );
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_mtime(1_700_000_000);
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_cksum();
        tar.extend_from_slice(header.as_bytes());
        tar.extend_from_slice(data);
        tar.resize(tar.len().next_multiple_of(512), 0);
    }
    tar.resize(tar.len() + 1024, 0);
    tar
}

/// Real backups, as tar streams: a directory with nested and empty directories, modes and links
/// inside; and a single file.
fn real_archives() -> &'static [Vec<u8>] {
    static REAL: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    REAL.get_or_init(|| {
        let dir = harness_dir().join("real");
        let data = dir.join("data");
        fs::create_dir_all(data.join("users/admins")).unwrap();
        fs::create_dir_all(data.join("empty")).unwrap();
        fs::write(data.join("settings.toml"), "port = 8080\n").unwrap();
        fs::write(data.join("users/ada.json"), r#"{"name": "Ada"}"#).unwrap();
        fs::write(data.join("users/admins/root.json"), "{}").unwrap();
        fs::set_permissions(data.join("users/admins"), fs::Permissions::from_mode(0o700)).unwrap();
        symlink("users/ada.json", data.join("current")).unwrap();
        symlink("../settings.toml", data.join("users/settings")).unwrap();
        let runtime = runtime();
        let archives = [
            runtime.block_on(backup(&data, &dir)).unwrap(),
            runtime
                .block_on(backup(data.join("settings.toml"), &dir))
                .unwrap(),
        ];
        archives
            .iter()
            .map(|archive| {
                let mut tar = Vec::new();
                let file = fs::File::open(archive).unwrap();
                GzDecoder::new(file).read_to_end(&mut tar).unwrap();
                tar
            })
            .collect()
    })
}

/// Where the 512-byte header blocks of `tar` start, as a reader walks it.
fn header_offsets(tar: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() && tar[at..at + 512].iter().any(|&b| b != 0) {
        offsets.push(at);
        let header = Header::from_byte_slice(&tar[at..at + 512]);
        let size = header.entry_size().unwrap_or(0);
        let Some(next) = usize::try_from(size)
            .ok()
            .and_then(|size| at.checked_add(512 + size.next_multiple_of(512)))
        else {
            break;
        };
        at = next;
    }
    offsets
}

/// The archive bytes: `tar` mutated, compressed, mutated again.
fn archive_bytes(mut tar: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        match mutation {
            Mutation::Header(block, at, byte, fix) => {
                let offsets = header_offsets(&tar);
                if offsets.is_empty() {
                    continue;
                }
                let start = offsets[block.index(offsets.len())];
                tar[start + at] = *byte;
                if *fix {
                    let mut header = Header::from_byte_slice(&tar[start..start + 512]).clone();
                    header.set_cksum();
                    tar[start..start + 512].copy_from_slice(header.as_bytes());
                }
            }
            Mutation::TarByte(at, byte) if !tar.is_empty() => {
                let at = at.index(tar.len());
                tar[at] = *byte;
            }
            Mutation::TarCut(at) if !tar.is_empty() => tar.truncate(at.index(tar.len())),
            _ => {}
        }
    }
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(&tar).unwrap();
    let mut gz = gz.finish().unwrap();
    for mutation in mutations {
        match mutation {
            Mutation::GzByte(at, byte) if !gz.is_empty() => {
                let at = at.index(gz.len());
                gz[at] = *byte;
            }
            Mutation::GzCut(at) if !gz.is_empty() => gz.truncate(at.index(gz.len())),
            _ => {}
        }
    }
    gz
}

/// This process's directory for all cases, with one shared `outside` neighbour level above.
fn harness_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("resilient-fuzz-restore-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    })
    .clone()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn check(base: Base, mutations: Vec<Mutation>) -> Result<(), TestCaseError> {
    static CASE: AtomicUsize = AtomicUsize::new(0);
    let case = Case::new(&harness_dir(), CASE.fetch_add(1, Ordering::Relaxed));
    let tar = match base {
        Base::Generated(root, entries) => tar_of(root, &entries, &case.outside()),
        Base::Real(which) => real_archives()[which.index(real_archives().len())].clone(),
    };
    let case = case.with_archive(archive_bytes(tar, &mutations));
    let restored = runtime().block_on(restore(case.archive(), case.target()));
    case.verify(&restored).map_err(TestCaseError::fail)
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn restore_leaves_the_old_content_or_exactly_the_archived_one(
        base in base(),
        mutations in prop_oneof![
            2 => Just(Vec::new()),
            3 => prop::collection::vec(mutation(), 1..4),
        ],
    ) {
        check(base, mutations)?;
    }
}
