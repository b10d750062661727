//! `resilient::fs`: atomic writes, backups and restores, pruning, permission repair.

use resilient::fs::{ensure_mode, write_atomic, write_atomic_blocking};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system temp dir, removed when dropped.
struct TestDir(PathBuf);

impl TestDir {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "resilient-fs-{name}-{}-{n}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        fs::create_dir_all(&path).unwrap();
        TestDir(path)
    }

    fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

// ---------------------------------------------------------------------------------------------
// write_atomic

#[tokio::test]
async fn write_atomic_creates_a_new_file() {
    let dir = TestDir::new("create");
    let path = dir.join("new.txt");
    write_atomic(&path, "hello").await.unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "hello");
    assert_eq!(names(&dir.0), ["new.txt"]);
}

#[tokio::test]
async fn write_atomic_replaces_content_and_leaves_no_temp_file() {
    let dir = TestDir::new("replace");
    let path = dir.join("state.json");
    fs::write(&path, "old content, longer than the new one").unwrap();
    write_atomic(&path, b"new").await.unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"new");
    write_atomic(&path, Vec::<u8>::new()).await.unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"");
    assert_eq!(names(&dir.0), ["state.json"]);
}

#[cfg(unix)]
#[tokio::test]
async fn write_atomic_keeps_the_permissions() {
    let dir = TestDir::new("perms");
    let path = dir.join("secret");
    fs::write(&path, "v1").unwrap();
    set_mode(&path, 0o640);
    write_atomic(&path, "v2").await.unwrap();
    assert_eq!(mode(&path), 0o640);
    set_mode(&path, 0o400); // read-only: replaced all the same, and still read-only
    write_atomic_blocking(&path, "v3").unwrap();
    assert_eq!(mode(&path), 0o400);
    assert_eq!(fs::read_to_string(&path).unwrap(), "v3");
}

#[cfg(unix)]
#[test]
fn write_atomic_keeps_the_owner_where_allowed() {
    use std::os::unix::fs::MetadataExt;
    let dir = TestDir::new("owner");
    let path = dir.join("owned");
    fs::write(&path, "v1").unwrap();
    if std::os::unix::fs::chown(&path, Some(4321), Some(4321)).is_err() {
        println!("skipped: not allowed to give a file away (not root)");
        return;
    }
    write_atomic_blocking(&path, "v2").unwrap();
    let meta = fs::metadata(&path).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (4321, 4321));
}

#[test]
fn write_atomic_blocking_replaces_content() {
    let dir = TestDir::new("blocking");
    let path = dir.join("counter");
    for n in 0..5 {
        write_atomic_blocking(&path, n.to_string()).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), n.to_string());
    }
    assert_eq!(names(&dir.0), ["counter"]);
}

#[tokio::test]
async fn a_failed_rename_leaves_no_temp_file() {
    let dir = TestDir::new("rename-fails");
    // The target is a non-empty directory: everything works up to the rename, which fails.
    let path = dir.join("target");
    fs::create_dir(&path).unwrap();
    fs::write(path.join("inside"), "keep me").unwrap();

    let err = write_atomic(&path, "contents").await.unwrap_err();
    let message = err.to_string();
    assert!(message.contains("cannot rename"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert_eq!(names(&dir.0), ["target"]);
    assert_eq!(fs::read_to_string(path.join("inside")).unwrap(), "keep me");

    let err = write_atomic_blocking(&path, "contents").unwrap_err();
    assert!(err.to_string().contains("cannot rename"), "{err}");
    assert_eq!(names(&dir.0), ["target"]);
}

#[tokio::test]
async fn a_missing_directory_is_an_error_naming_it() {
    let dir = TestDir::new("missing-dir");
    let path = dir.join("no/such/dir/file");
    let err = write_atomic(&path, "x").await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    let message = err.to_string();
    assert!(
        message.contains("cannot create a temp file in"),
        "{message}"
    );
    assert!(message.contains("no/such/dir"), "{message}");
    // At once: a missing directory is no name collision to retry.
    assert!(!message.contains("every name tried"), "{message}");
    assert!(names(&dir.0).is_empty());
}

#[test]
fn a_name_at_the_length_limit_is_written_all_the_same() {
    let dir = TestDir::new("long-name");
    // 250 bytes: its temp name is shortened to stay within the usual 255.
    let name = "n".repeat(250);
    write_atomic_blocking(dir.join(&name), "long").unwrap();
    write_atomic_blocking(dir.join(&name), "longer").unwrap();
    assert_eq!(fs::read_to_string(dir.join(&name)).unwrap(), "longer");
    assert_eq!(names(&dir.0), [name]);
}

#[cfg(unix)]
#[tokio::test]
async fn write_atomic_writes_through_a_symlink() {
    let dir = TestDir::new("symlink");
    fs::create_dir(dir.join("real")).unwrap();
    fs::write(dir.join("real/config"), "v1").unwrap();
    std::os::unix::fs::symlink("real/config", dir.join("config")).unwrap();

    write_atomic(dir.join("config"), "v2").await.unwrap();
    assert!(
        fs::symlink_metadata(dir.join("config"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read_to_string(dir.join("real/config")).unwrap(), "v2");
    assert_eq!(names(&dir.join("real")), ["config"]);
}

#[test]
fn a_committed_scope_keeps_the_new_file_and_no_copy_of_the_old() {
    let dir = TestDir::new("committed");
    let path = dir.join("state");
    fs::write(&path, "old").unwrap();
    let committed: io::Result<()> =
        resilient::atomic::scope_blocking(|| write_atomic_blocking(&path, "new"));
    committed.unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "new");
    assert_eq!(names(&dir.0), ["state"]);
}

#[cfg(unix)]
#[test]
fn a_path_through_a_file_is_an_error_naming_what_failed() {
    let dir = TestDir::new("through-file");
    fs::write(dir.join("file"), "x").unwrap();
    let err = write_atomic_blocking(dir.join("file/inner"), "y").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotADirectory, "{err}");
    let message = err.to_string();
    assert!(message.starts_with("cannot read "), "{message}");
    assert!(message.contains("file/inner"), "{message}");
}

#[test]
fn leftovers_of_a_crashed_writer_do_not_matter() {
    let dir = TestDir::new("leftovers");
    let path = dir.join("data");
    let leftover = dir.join(".data.0123456789abcdef.tmp");
    fs::write(&leftover, "half a write").unwrap();
    write_atomic_blocking(&path, "whole").unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "whole");
    assert_eq!(fs::read_to_string(&leftover).unwrap(), "half a write");
    assert_eq!(names(&dir.0), [".data.0123456789abcdef.tmp", "data"]);
}

#[test]
fn concurrent_writers_each_land_whole() {
    let dir = TestDir::new("concurrent");
    let path = dir.join("shared");
    let contents: Vec<Vec<u8>> = (0..8u8)
        .map(|n| vec![n; 64 * 1024 + usize::from(n)])
        .collect();
    let (path, contents) = (&path, &contents);
    std::thread::scope(|s| {
        for content in contents {
            s.spawn(move || {
                for _ in 0..20 {
                    write_atomic_blocking(path, content).unwrap();
                    let seen = fs::read(path).unwrap();
                    assert!(
                        contents.contains(&seen),
                        "a partial file: {} bytes",
                        seen.len()
                    );
                }
            });
        }
    });
    assert!(contents.contains(&fs::read(path).unwrap()));
    assert_eq!(names(&dir.0), ["shared"]);
}

// ---------------------------------------------------------------------------------------------
// ensure_mode

#[cfg(unix)]
#[test]
fn ensure_mode_sets_the_mode_when_it_differs() {
    let dir = TestDir::new("mode");
    let path = dir.join("key");
    fs::write(&path, "secret").unwrap();
    set_mode(&path, 0o644);
    ensure_mode(&path, 0o600).unwrap();
    assert_eq!(mode(&path), 0o600);
    ensure_mode(&path, 0o600).unwrap(); // already right: nothing to do
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn ensure_mode_rejects_what_is_not_a_mode() {
    let dir = TestDir::new("bad-mode");
    let path = dir.join("file");
    fs::write(&path, "").unwrap();
    let err = ensure_mode(&path, 0o10000).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    // The largest mode is one.
    ensure_mode(&path, 0o7777).unwrap();
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o7777);
    let err = ensure_mode(dir.join("missing"), 0o600).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(err.to_string().contains("missing"), "{err}");
}

#[cfg(target_os = "linux")]
#[test]
fn ensure_mode_reports_permission_denied_clearly() {
    // Nobody, not even root, may change the mode of a file in /proc.
    let err = ensure_mode("/proc/self/status", 0o600).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    assert_eq!(
        err.to_string(),
        "cannot set mode 0600 on /proc/self/status: permission denied; fix the owner or run as \
         a user that owns it"
    );
}

// ---------------------------------------------------------------------------------------------
// backup, restore, keep_newest

#[cfg(all(unix, feature = "backup"))]
mod backups {
    use super::{TestDir, mode, names, set_mode};
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use resilient::fs::{backup, keep_newest, restore};
    use std::collections::BTreeMap;
    use std::fs;
    use std::io;
    use std::os::unix::fs::{MetadataExt, symlink};
    use std::path::{Path, PathBuf};
    use tar::{EntryType, Header};

    /// What a tree holds, exactly: kinds, modes, contents, link texts, file times.
    #[derive(Debug, PartialEq, Eq)]
    enum Node {
        Dir {
            mode: u32,
        },
        File {
            mode: u32,
            mtime: i64,
            content: Vec<u8>,
        },
        Link {
            to: PathBuf,
        },
    }

    fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
        let mut tree = BTreeMap::new();
        let mut todo = vec![PathBuf::new()];
        while let Some(rel) = todo.pop() {
            let path = if rel == Path::new("") {
                root.to_path_buf()
            } else {
                root.join(&rel)
            };
            let meta = fs::symlink_metadata(&path).unwrap();
            let node = if meta.is_dir() {
                for entry in fs::read_dir(&path).unwrap() {
                    todo.push(rel.join(entry.unwrap().file_name()));
                }
                Node::Dir { mode: mode(&path) }
            } else if meta.file_type().is_symlink() {
                Node::Link {
                    to: fs::read_link(&path).unwrap(),
                }
            } else {
                Node::File {
                    mode: mode(&path),
                    mtime: meta.mtime(),
                    content: fs::read(&path).unwrap(),
                }
            };
            tree.insert(rel, node);
        }
        tree
    }

    fn is_backup_name(path: &Path) -> bool {
        let name = path.file_name().unwrap().to_str().unwrap();
        let Some(stamp) = name
            .strip_prefix("backup-")
            .and_then(|n| n.strip_suffix(".tar.gz"))
        else {
            return false;
        };
        let bytes = stamp.as_bytes();
        bytes.len() >= 15
            && bytes[..8].iter().all(u8::is_ascii_digit)
            && bytes[8] == b'-'
            && bytes[9..15].iter().all(u8::is_ascii_digit)
    }

    /// A tree with nested and empty directories, modes, binary content and links inside.
    fn sample_tree(root: &Path) {
        fs::create_dir_all(root.join("users/admins")).unwrap();
        fs::create_dir_all(root.join("empty")).unwrap();
        fs::write(root.join("settings.toml"), "port = 8080\n").unwrap();
        fs::write(root.join("users/ada.json"), r#"{"name": "Ada"}"#).unwrap();
        fs::write(root.join("users/admins/root.json"), r#"{"name": "root"}"#).unwrap();
        let binary: Vec<u8> = (0..100_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        fs::write(root.join("blob.bin"), binary).unwrap();
        fs::write(root.join("run.sh"), "#!/bin/sh\n").unwrap();
        set_mode(&root.join("run.sh"), 0o750);
        set_mode(&root.join("users/admins/root.json"), 0o600);
        set_mode(&root.join("users/admins"), 0o700);
        symlink("users/ada.json", root.join("current-user")).unwrap();
        symlink("../settings.toml", root.join("users/settings")).unwrap();
        let long = "a-rather-long-directory-name-".repeat(4);
        fs::create_dir_all(root.join(&long).join(&long)).unwrap();
        fs::write(root.join(&long).join(&long).join("deep.txt"), "deep").unwrap();
    }

    #[tokio::test]
    async fn a_file_round_trips() {
        let dir = TestDir::new("file-backup");
        let file = dir.join("config.toml");
        let backups = dir.join("backups");
        fs::create_dir(&backups).unwrap();
        fs::write(&file, "mode = \"safe\"\n").unwrap();
        set_mode(&file, 0o640);
        let before = snapshot(&dir.join("config.toml"));

        let archive = backup(&file, &backups).await.unwrap();
        assert!(is_backup_name(&archive), "{}", archive.display());
        assert_eq!(archive.parent(), Some(backups.as_path()));
        assert_eq!(names(&backups).len(), 1);

        fs::write(&file, "mode = \"broken\" and longer\n").unwrap();
        set_mode(&file, 0o666);
        restore(&archive, &file).await.unwrap();
        assert_eq!(snapshot(&file), before);

        fs::remove_file(&file).unwrap(); // a missing target is restored too
        restore(&archive, &file).await.unwrap();
        assert_eq!(snapshot(&file), before);
        assert_eq!(names(&dir.0), ["backups", "config.toml"]);
    }

    #[tokio::test]
    async fn a_directory_round_trips_exactly() {
        let dir = TestDir::new("dir-backup");
        let data = dir.join("data");
        let backups = dir.join("backups");
        fs::create_dir(&backups).unwrap();
        sample_tree(&data);
        set_mode(&data, 0o751);
        let before = snapshot(&data);

        let archive = backup(&data, &backups).await.unwrap();
        assert!(is_backup_name(&archive));

        // Damage it every way: removed, changed and added files, a changed mode.
        fs::remove_dir_all(data.join("users")).unwrap();
        fs::write(data.join("settings.toml"), "port = 1\n").unwrap();
        fs::write(data.join("extra.txt"), "not in the backup").unwrap();
        fs::create_dir(data.join("extra-dir")).unwrap();
        set_mode(&data.join("run.sh"), 0o644);
        assert_ne!(snapshot(&data), before);

        restore(&archive, &data).await.unwrap();
        assert_eq!(snapshot(&data), before);
        assert_eq!(names(&dir.0), ["backups", "data"]); // nothing left beside it

        // Into a missing target.
        fs::remove_dir_all(&data).unwrap();
        restore(&archive, &data).await.unwrap();
        assert_eq!(snapshot(&data), before);
    }

    #[tokio::test]
    async fn the_archive_holds_paths_relative_to_the_source() {
        let dir = TestDir::new("relative");
        let data = dir.join("data");
        fs::create_dir_all(data.join("sub")).unwrap();
        fs::write(data.join("sub/file"), "x").unwrap();
        let archive = backup(&data, &dir.0).await.unwrap();

        assert_eq!(entries(&archive), ["./", "sub/", "sub/file"]);
        let archive = backup(data.join("sub/file"), &dir.0).await.unwrap();
        assert_eq!(entries(&archive), ["file"]);
    }

    /// The paths in an archive, in order.
    fn entries(archive: &Path) -> Vec<String> {
        let file = fs::File::open(archive).unwrap();
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
        let entries = tar.entries().unwrap();
        entries
            .map(|e| String::from_utf8(e.unwrap().path_bytes().into_owned()).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn two_backups_in_one_second_get_distinct_names() {
        let dir = TestDir::new("same-second");
        let file = dir.join("state");
        let backups = dir.join("backups");
        fs::create_dir(&backups).unwrap();
        let mut made = Vec::new();
        // Backups take milliseconds: some of these share a second.
        for n in 0..5 {
            fs::write(&file, format!("version {n}")).unwrap();
            made.push(backup(&file, &backups).await.unwrap());
        }
        let mut distinct = made.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 5, "{made:?}");
        assert_eq!(names(&backups).len(), 5);
        // `backup-STAMP.tar.gz` first, then `-1`, `-2`, ... within the same second.
        let stamp_of = |p: &Path| p.file_name().unwrap().to_str().unwrap()[7..22].to_owned();
        let mut suffixed = 0;
        for (i, path) in made.iter().enumerate() {
            let stamp = stamp_of(path);
            let k = made[..i].iter().filter(|p| stamp_of(p) == stamp).count();
            let expected = match k {
                0 => format!("backup-{stamp}.tar.gz"),
                k => format!("backup-{stamp}-{k}.tar.gz"),
            };
            assert_eq!(path.file_name().unwrap().to_str().unwrap(), expected);
            suffixed += usize::from(k > 0);
        }
        // Five backups within milliseconds span at most two seconds.
        assert!(suffixed > 0, "{made:?}");
        // Each holds its own version.
        for (n, archive) in made.iter().enumerate() {
            restore(archive, &file).await.unwrap();
            assert_eq!(fs::read_to_string(&file).unwrap(), format!("version {n}"));
        }
    }

    #[tokio::test]
    async fn backups_inside_the_source_are_left_out() {
        let dir = TestDir::new("inside");
        let data = dir.join("data");
        fs::create_dir_all(data.join("backups")).unwrap();
        fs::write(data.join("file"), "x").unwrap();
        backup(&data, data.join("backups")).await.unwrap();
        let second = backup(&data, data.join("backups")).await.unwrap();
        assert_eq!(entries(&second), ["./", "file"]);
        let err = backup(&dir.0, &dir.0).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("into itself"), "{err}");
    }

    #[tokio::test]
    async fn a_restore_keeps_the_backups_it_left_out() {
        for backups_at in ["backups", "var/backups"] {
            let dir = TestDir::new("keeps-backups");
            let data = dir.join("data");
            let backups = data.join(backups_at);
            sample_tree(&data);
            fs::create_dir_all(&backups).unwrap();
            fs::write(backups.join("notes.txt"), "not a backup, kept all the same").unwrap();
            let before = snapshot(&data);
            let older = backup(&data, &backups).await.unwrap();
            let archive = backup(&data, &backups).await.unwrap();
            let backups_before = snapshot(&backups);

            // Damaged, and something else left under the backups directory's parent.
            fs::remove_dir_all(data.join("users")).unwrap();
            fs::write(data.join("settings.toml"), "port = 1\n").unwrap();
            fs::write(data.join("extra.txt"), "not in the backup").unwrap();
            restore(&archive, &data).await.unwrap();

            assert_eq!(snapshot(&backups), backups_before, "{backups_at}");
            assert!(older.exists() && archive.exists());
            let mut restored = snapshot(&data);
            restored.retain(|path, _| !path.starts_with(backups_at));
            let mut expected = before;
            expected.retain(|path, _| !path.starts_with(backups_at));
            assert_eq!(restored, expected, "{backups_at}");
            assert_eq!(names(&dir.0), ["data"]); // nothing left beside it
        }
    }

    #[tokio::test]
    async fn a_restore_never_deletes_the_archive_it_restores() {
        let dir = TestDir::new("archive-inside");
        let data = dir.join("data");
        sample_tree(&data);
        let made = backup(&data, &dir.0).await.unwrap();
        // Moved into the target, where the archive does not say it was left out.
        let archive = data.join("users/backup.tar.gz");
        fs::rename(&made, &archive).unwrap();
        let before = snapshot(&dir.0);
        let err = restore(&archive, &data).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("would delete it"), "{err}");
        assert_eq!(snapshot(&dir.0), before);

        // Nor into itself.
        let file = dir.join("file");
        fs::write(&file, "x").unwrap();
        let archive = backup(&file, &dir.0).await.unwrap();
        let err = restore(&archive, &archive).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert_eq!(entries(&archive), ["file"]);
    }

    #[tokio::test]
    async fn restore_refuses_entries_in_what_the_archive_left_out() {
        let dir = TestDir::new("left-out-given");
        let target = dir.join("target");
        sample_tree(&target);
        let before = snapshot(&dir.0);
        let archive = dir.join("evil.tar.gz");
        let file = fs::File::create(&archive).unwrap();
        let mut builder = tar::Builder::new(GzEncoder::new(file, Compression::fast()));
        builder
            .append_pax_extensions([("RESILIENT.left_out", b"users".as_slice())])
            .unwrap();
        let mut header = Header::new_gnu();
        header.set_entry_type(EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        builder.append_data(&mut header, "./", io::empty()).unwrap();
        let mut header = Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(1);
        builder
            .append_data(&mut header, "users/evil", b"x".as_slice())
            .unwrap();
        builder.into_inner().unwrap().finish().unwrap();

        let err = restore(&archive, &target).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        assert!(err.to_string().contains("`users`"), "{err}");
        fs::remove_file(&archive).unwrap();
        assert_eq!(snapshot(&dir.0), before);
    }

    #[tokio::test]
    async fn backup_refuses_links_that_leave_the_source() {
        let cases: [(&str, &[(&str, &str)]); 3] = [
            ("absolute", &[("etc", "/etc")]),
            ("climbs", &[("d/up", "../../outside")]),
            // Each text stays inside, but `d/e/up` is the root, so `up/..` climbs out.
            (
                "chained",
                &[("d/e/up", "../.."), ("escape", "d/e/up/../outside")],
            ),
        ];
        for (name, links) in cases {
            let dir = TestDir::new(name);
            let data = dir.join("data");
            let backups = dir.join("backups");
            fs::create_dir_all(data.join("d/e")).unwrap();
            fs::create_dir(&backups).unwrap();
            fs::write(data.join("file"), "x").unwrap();
            for (at, to) in links {
                symlink(to, data.join(at)).unwrap();
            }
            let culprit = links.last().unwrap();
            let err = backup(&data, &backups).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{name}: {err}");
            let message = err.to_string();
            assert!(message.contains(&format!("`{}`", culprit.0)), "{message}");
            assert!(message.contains(culprit.1), "{message}");
            assert!(names(&backups).is_empty(), "{name}: an archive was left");
        }
    }

    #[tokio::test]
    async fn what_backup_writes_restore_restores() {
        let dir = TestDir::new("links-round-trip");
        let data = dir.join("data");
        sample_tree(&data);
        fs::create_dir_all(data.join("d/e")).unwrap();
        // Links inside, also through other links, also dangling.
        symlink("../..", data.join("d/e/up")).unwrap();
        symlink("d/e/up/settings.toml", data.join("via-link")).unwrap();
        symlink(".", data.join("self")).unwrap();
        symlink("missing", data.join("dangling")).unwrap();
        let before = snapshot(&data);
        let archive = backup(&data, &dir.0).await.unwrap();
        fs::remove_dir_all(&data).unwrap();
        restore(&archive, &data).await.unwrap();
        assert_eq!(snapshot(&data), before);
        assert_eq!(
            fs::read_link(data.join("via-link")).unwrap(),
            Path::new("d/e/up/settings.toml")
        );
    }

    #[tokio::test]
    async fn restore_through_a_file_is_an_error_naming_what_failed() {
        let dir = TestDir::new("restore-through-file");
        let file = dir.join("file");
        fs::write(&file, "x").unwrap();
        let archive = backup(&file, &dir.0).await.unwrap();
        let err = restore(&archive, file.join("inner")).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotADirectory, "{err}");
        let message = err.to_string();
        assert!(message.starts_with("cannot read "), "{message}");
        assert!(message.contains("file/inner"), "{message}");
    }

    #[tokio::test]
    async fn backup_errors_name_the_path_and_leave_nothing() {
        let dir = TestDir::new("backup-errors");
        let err = backup(dir.join("missing"), &dir.0).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("missing"), "{err}");
        fs::write(dir.join("file"), "x").unwrap();
        let err = backup(dir.join("file"), dir.join("no-dir"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no-dir"), "{err}");
        assert_eq!(names(&dir.0), ["file"]);
    }

    /// One entry of a hand-made archive, with the path written as raw bytes: the `tar` crate's
    /// own setters refuse `..` and absolute paths.
    enum Raw<'a> {
        Dir(&'a str),
        File(&'a str, &'a [u8]),
        Symlink(&'a str, &'a str),
        HardLink(&'a str, &'a str),
        Contiguous(&'a str, &'a [u8]),
    }

    fn raw_archive(path: &Path, entries: &[Raw<'_>]) {
        let file = fs::File::create(path).unwrap();
        let mut builder = tar::Builder::new(GzEncoder::new(file, Compression::fast()));
        for entry in entries {
            let (kind, name, link, data): (_, &str, &str, &[u8]) = match *entry {
                Raw::Dir(name) => (EntryType::Directory, name, "", b""),
                Raw::File(name, data) => (EntryType::Regular, name, "", data),
                Raw::Symlink(name, to) => (EntryType::Symlink, name, to, b""),
                Raw::HardLink(name, to) => (EntryType::Link, name, to, b""),
                Raw::Contiguous(name, data) => (EntryType::Continuous, name, "", data),
            };
            let mut header = Header::new_gnu();
            header.set_entry_type(kind);
            header.set_mode(if kind == EntryType::Directory {
                0o755
            } else {
                0o644
            });
            header.set_size(data.len() as u64);
            header.set_mtime(1_700_000_000);
            header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
            header.set_cksum();
            builder.append(&header, data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap();
    }

    /// Restores `entries` into an existing directory and checks that it is refused with a message
    /// naming `culprit`, that the target is untouched and nothing was left anywhere; the message.
    async fn assert_refused(name: &str, entries: &[Raw<'_>], culprit: &str) -> String {
        let dir = TestDir::new(name);
        let target = dir.join("target");
        sample_tree(&target);
        fs::create_dir(dir.join("outside")).unwrap();
        let before = snapshot(&dir.0);
        let archive = dir.join("evil.tar.gz");
        raw_archive(&archive, entries);

        let err = restore(&archive, &target).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        let message = err.to_string();
        assert!(message.contains(&format!("`{culprit}`")), "{message}");
        assert!(message.starts_with("refused "), "{message}");
        fs::remove_file(&archive).unwrap();
        assert_eq!(snapshot(&dir.0), before, "something changed");
        // Nor anywhere above the test directory.
        assert!(!dir.0.parent().unwrap().join("evil").exists());
        message
    }

    #[tokio::test]
    async fn restore_refuses_parent_dir_entries() {
        let entries = [
            Raw::Dir("./"),
            Raw::File("ok.txt", b"fine"),
            Raw::File("../outside/evil", b"escaped"),
        ];
        assert_refused("dotdot", &entries, "../outside/evil").await;
        let entries = [Raw::Dir("./"), Raw::File("sub/../../evil", b"escaped")];
        assert_refused("dotdot-inner", &entries, "sub/../../evil").await;
    }

    #[tokio::test]
    async fn restore_refuses_absolute_paths() {
        let dir = TestDir::new("absolute-target");
        let absolute = dir.join("evil-absolute");
        let name = absolute.to_str().unwrap();
        assert_refused(
            "absolute",
            &[Raw::Dir("./"), Raw::File(name, b"escaped")],
            name,
        )
        .await;
        assert!(!absolute.exists());
        assert_refused("absolute-file", &[Raw::File("/evil", b"escaped")], "/evil").await;
    }

    #[tokio::test]
    async fn restore_refuses_links_pointing_outside() {
        let out = [Raw::Dir("./"), Raw::Symlink("link", "../outside")];
        assert_refused("symlink-up", &out, "link").await;
        let out = [
            Raw::Dir("./"),
            Raw::Dir("d"),
            Raw::Symlink("d/link", "../../outside"),
        ];
        assert_refused("symlink-up-deep", &out, "d/link").await;
        assert_refused(
            "symlink-abs",
            &[Raw::Dir("./"), Raw::Symlink("etc", "/etc")],
            "etc",
        )
        .await;
        // Each link's text stays inside, but `d/e/up` is the root, so `up/..` climbs out.
        let chained = [
            Raw::Dir("./"),
            Raw::Dir("d"),
            Raw::Dir("d/e"),
            Raw::Symlink("d/e/up", "../.."),
            Raw::Symlink("escape", "d/e/up/../outside"),
        ];
        assert_refused("symlink-chain", &chained, "escape").await;
        // A file written through a link (here one pointing inside) is refused too.
        let through = [
            Raw::Dir("./"),
            Raw::Dir("sub"),
            Raw::Symlink("alias", "sub"),
            Raw::File("alias/file", b"x"),
        ];
        let message = assert_refused("through-symlink", &through, "alias/file").await;
        assert!(
            message.contains("goes through a symbolic link"),
            "{message}"
        );
        // A file where a directory should be is refused, as what it is.
        let under_file = [
            Raw::Dir("./"),
            Raw::File("plain", b"x"),
            Raw::File("plain/file", b"x"),
        ];
        let message = assert_refused("under-a-file", &under_file, "plain/file").await;
        assert!(
            message.contains("is inside something that is not a directory"),
            "{message}"
        );
        // A hard link must name a file of the archive, not a directory.
        let to_dir = [Raw::Dir("./"), Raw::Dir("d"), Raw::HardLink("h", "d")];
        let message = assert_refused("hardlink-to-dir", &to_dir, "h").await;
        assert!(
            message.contains("is a hard link to no file of the archive"),
            "{message}"
        );
        let hard = [Raw::Dir("./"), Raw::HardLink("h", "../outside/file")];
        assert_refused("hardlink-out", &hard, "../outside/file").await;
        let hard = [Raw::Dir("./"), Raw::HardLink("h", "/etc/passwd")];
        assert_refused("hardlink-abs", &hard, "/etc/passwd").await;
        // Nothing is written through a link: not a file, nor a hard link.
        let through = [
            Raw::Dir("./"),
            Raw::Symlink("out", "."),
            Raw::File("out/file", b"x"),
        ];
        assert_refused("file-through-symlink", &through, "out/file").await;
        let through = [
            Raw::Dir("./"),
            Raw::Dir("sub"),
            Raw::File("sub/file", b"x"),
            Raw::Symlink("alias", "sub"),
            Raw::HardLink("h", "alias/file"),
        ];
        assert_refused("hardlink-through-symlink", &through, "alias/file").await;
        let twice = [
            Raw::Dir("./"),
            Raw::Symlink("x", "sub"),
            Raw::File("x", b"x"),
        ];
        assert_refused("twice", &twice, "x").await;
    }

    /// Entries in any order: a file listed before its directory, and a file stored as
    /// "contiguous" (an old tar type for a regular file).
    #[tokio::test]
    async fn entries_in_any_order_and_contiguous_files_are_restored() {
        let dir = TestDir::new("any-order");
        let archive = dir.join("ok.tar.gz");
        raw_archive(
            &archive,
            &[
                Raw::Dir("./"),
                Raw::File("d/file", b"first"),
                Raw::Dir("d"),
                Raw::Contiguous("old", b"contiguous"),
            ],
        );
        let target = dir.join("target");
        restore(&archive, &target).await.unwrap();
        assert_eq!(fs::read(target.join("d/file")).unwrap(), b"first");
        assert_eq!(fs::read(target.join("old")).unwrap(), b"contiguous");
    }

    #[tokio::test]
    async fn links_inside_are_restored() {
        let dir = TestDir::new("links-inside");
        let archive = dir.join("ok.tar.gz");
        raw_archive(
            &archive,
            &[
                Raw::Dir("./"),
                Raw::Dir("d"),
                Raw::File("d/file", b"content"),
                Raw::Symlink("d/up", ".."),
                Raw::Symlink("d/sibling", "../d/file"),
                Raw::HardLink("again", "d/file"),
            ],
        );
        let target = dir.join("target");
        restore(&archive, &target).await.unwrap();
        assert_eq!(fs::read(target.join("d/up/d/sibling")).unwrap(), b"content");
        assert_eq!(fs::read(target.join("again")).unwrap(), b"content");
    }

    #[tokio::test]
    async fn a_failed_restore_leaves_the_target_untouched() {
        let dir = TestDir::new("failed-restore");
        let data = dir.join("data");
        sample_tree(&data);
        let archive = backup(&data, &dir.0).await.unwrap();
        fs::write(data.join("settings.toml"), "changed since").unwrap();
        let before = snapshot(&dir.0);

        // A corrupt archive: cut in the middle.
        let bytes = fs::read(&archive).unwrap();
        let cut = dir.join("cut.tar.gz");
        fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let err = restore(&cut, &data).await.unwrap_err();
        assert!(err.to_string().contains("cut.tar.gz"), "{err}");
        fs::remove_file(&cut).unwrap();
        assert_eq!(snapshot(&dir.0), before);

        // The wrong kind: a directory archive into a file, a file archive into a directory.
        let file = dir.join("file");
        fs::write(&file, "a file").unwrap();
        let file_archive = backup(&file, dir.join("data/users")).await.unwrap();
        let before = snapshot(&dir.0);
        let err = restore(&archive, &file).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        let err = restore(&file_archive, &data).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        let err = restore(dir.join("missing.tar.gz"), &data)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        assert_eq!(snapshot(&dir.0), before);
    }

    #[tokio::test]
    async fn archives_are_private_to_their_owner() {
        let dir = TestDir::new("private");
        let file = dir.join("public.txt");
        fs::write(&file, "anyone may read this file, not its backup").unwrap();
        set_mode(&file, 0o644);
        let archive = backup(&file, &dir.0).await.unwrap();
        assert_eq!(mode(&archive), 0o600);
    }

    #[tokio::test]
    async fn restore_refuses_an_empty_archive() {
        let dir = TestDir::new("empty-archive");
        let target = dir.join("target");
        sample_tree(&target);
        let before = snapshot(&target);
        let archive = dir.join("empty.tar.gz");
        raw_archive(&archive, &[]);
        let err = restore(&archive, &target).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("holds nothing"), "{err}");
        assert_eq!(snapshot(&target), before);
        assert_eq!(names(&dir.0), ["empty.tar.gz", "target"]);
    }

    #[tokio::test]
    async fn keep_newest_removes_all_but_the_newest() {
        let dir = TestDir::new("keep");
        let names_made = [
            "backup-20240101-000000.tar.gz",
            "backup-20240101-000000-1.tar.gz",
            "backup-20240101-000000-10.tar.gz",
            "backup-20231231-235959.tar.gz",
            "backup-20240102-120000.tar.gz",
        ];
        for name in names_made {
            fs::write(dir.join(name), name).unwrap();
        }
        for other in [
            "notes.txt",
            "backup-latest.tar.gz",
            ".backup-20990101-000000.tar.gz.1.tmp",
        ] {
            fs::write(dir.join(other), "").unwrap();
        }
        fs::create_dir(dir.join("backup-20990101-000000.tar.gz")).unwrap(); // not a file

        let removed = keep_newest(&dir.0, 2).await.unwrap();
        let removed: Vec<_> = removed
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(
            removed,
            [
                "backup-20231231-235959.tar.gz",
                "backup-20240101-000000.tar.gz",
                "backup-20240101-000000-1.tar.gz",
            ]
        );
        assert_eq!(
            names(&dir.0),
            [
                ".backup-20990101-000000.tar.gz.1.tmp",
                "backup-20240101-000000-10.tar.gz",
                "backup-20240102-120000.tar.gz",
                "backup-20990101-000000.tar.gz",
                "backup-latest.tar.gz",
                "notes.txt",
            ]
        );
        assert!(keep_newest(&dir.0, 2).await.unwrap().is_empty());
        assert_eq!(keep_newest(&dir.0, 0).await.unwrap().len(), 2);
        let err = keep_newest(dir.join("missing"), 1).await.unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[tokio::test]
    async fn keep_newest_after_real_backups() {
        let dir = TestDir::new("keep-real");
        let file = dir.join("state");
        let backups = dir.join("backups");
        fs::create_dir(&backups).unwrap();
        let mut made = Vec::new();
        for n in 0..4 {
            fs::write(&file, format!("{n}")).unwrap();
            made.push(backup(&file, &backups).await.unwrap());
        }
        let removed = keep_newest(&backups, 1).await.unwrap();
        assert_eq!(removed, made[..3]);
        restore(&made[3], &file).await.unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "3");
    }
}

// ---------------------------------------------------------------------------------------------
// events

#[cfg(all(unix, feature = "backup"))]
mod events {
    use super::{TestDir, set_mode};
    use std::collections::BTreeMap;
    use std::fmt::Debug;
    use std::fs;
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::{Event, Level, Subscriber};
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

    /// Every event of the process: the backup's work runs on tokio's blocking threads, which a
    /// thread-local subscriber would not see. Other tests' events are told apart by path.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<Captured>>>);

    /// One event: name, level, fields.
    type Captured = (&'static str, Level, BTreeMap<String, String>);

    struct Fields<'a>(&'a mut BTreeMap<String, String>);

    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
    }

    impl<S: Subscriber> Layer<S> for Capture {
        fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
            let mut fields = BTreeMap::new();
            event.record(&mut Fields(&mut fields));
            let meta = event.metadata();
            let captured = (meta.name(), *meta.level(), fields);
            self.0.lock().unwrap().push(captured);
        }
    }

    impl Capture {
        /// The events about `path`: name, level, fields.
        fn about(&self, path: &std::path::Path) -> Vec<Captured> {
            let path = path.display().to_string();
            let events = self.0.lock().unwrap();
            events
                .iter()
                .filter(|e| e.2.get("path") == Some(&path))
                .cloned()
                .collect()
        }
    }

    #[tokio::test]
    async fn repairs_and_skipped_files_are_reported() {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry().with(capture.clone());
        tracing::subscriber::set_global_default(subscriber).unwrap();

        let dir = TestDir::new("events");
        let key = dir.join("key");
        fs::write(&key, "secret").unwrap();
        set_mode(&key, 0o644);
        resilient::fs::ensure_mode(&key, 0o600).unwrap();
        resilient::fs::ensure_mode(&key, 0o600).unwrap(); // nothing to repair: no event
        let events = capture.about(&key);
        assert_eq!(events.len(), 1, "{events:?}");
        let (name, level, fields) = &events[0];
        assert_eq!((*name, *level), ("fs.mode_repaired", Level::INFO));
        assert_eq!(
            (fields["from"].as_str(), fields["to"].as_str()),
            ("0644", "0600")
        );

        // A socket in a backed-up directory is skipped, and said so; the rest is archived.
        let data = dir.join("data");
        fs::create_dir(&data).unwrap();
        fs::write(data.join("file"), "kept").unwrap();
        let socket = data.join("app.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let archive = resilient::fs::backup(&data, &dir.0).await.unwrap();
        let events = capture.about(&socket);
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(
            (events[0].0, events[0].1),
            ("fs.backup_skipped", Level::WARN)
        );

        fs::remove_dir_all(&data).unwrap();
        resilient::fs::restore(&archive, &data).await.unwrap();
        assert_eq!(fs::read_to_string(data.join("file")).unwrap(), "kept");
        assert!(!socket.exists());
    }
}
