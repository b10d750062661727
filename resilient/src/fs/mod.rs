//!
//! [`write_atomic`] replaces a file through a temp file renamed over it: a reader, or a crash,
//! sees the whole old file or the whole new one. [`ensure_mode`] repairs permissions. With the
//! `backup` feature (on by default), [`backup`], [`restore`] and [`keep_newest`] make and use
//! timestamped recovery points; a restore never writes outside its target.
//!
//! ```
//! # fn main() -> std::io::Result<()> {
//! # let dir = std::env::temp_dir().join(format!("resilient-doc-fs-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! let config = dir.join("config.toml");
//! resilient::fs::write_atomic_blocking(&config, "port = 8080\n")?;
//! resilient::fs::ensure_mode(&config, 0o600)?;
//! // A reader sees the old file or the new one, never a mix, whenever the writer dies.
//! resilient::fs::write_atomic_blocking(&config, "port = 9090\n")?;
//! assert_eq!(std::fs::read_to_string(&config)?, "port = 9090\n");
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(()) }
//! ```
//!
//! # What a crash can leave behind
//!
//! A write that is killed (or loses power) leaves the file as it was before the write or as it is
//! after it, never in between. It may leave a temp file `.{name}.{random}.tmp` beside the target:
//! the part written so far, never read by anyone. Such files can be deleted whenever no write to
//! that file is running; the next write does not need them gone.
//!
//! # Events
//!
//! Its events (`fs.*`) are in the crate's [event catalogue](crate#events).
//!
//! [`write_atomic`]: crate::fs::write_atomic
//! [`ensure_mode`]: crate::fs::ensure_mode
//! [`backup`]: crate::fs::backup
//! [`restore`]: crate::fs::restore
//! [`keep_newest`]: crate::fs::keep_newest

#[cfg(feature = "backup")]
mod backup;
mod temp;

#[cfg(feature = "backup")]
pub use backup::{backup, keep_newest, restore};

use std::fmt::Display;
use std::fs::{self, File, Metadata};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use temp::{Private, TempFile};
use tracing::Level;

/// Replaces the file at `path` with `contents`, atomically: a reader (or a crash) sees the whole
/// old file or the whole new one, never a mix and never no file.
///
/// How: a new temp file is created in the same directory (`.{name}.{random}.tmp`, exclusively, so
/// that no other writer shares it), readable by its owner only, and given the old file's owner
/// (where the process may set it) and permissions before any content goes in; the contents are
/// written and flushed to disk (`fsync`), the temp file is renamed over `path`, and the directory
/// is flushed so that the rename itself survives a power loss. On any error the temp file is removed and `path` is as it
/// was. A new file gets the permissions a plain create gives (`0o666` less the umask).
///
/// If `path` is a symbolic link, the file it points to is replaced and the link stays.
///
/// Inside an atomic scope (`#[atomic]`, [`atomic::scope`](crate::atomic::scope)) the previous
/// file is kept aside (a hard link, so nothing is copied) and put back if the scope rolls back; a
/// file the write created is removed. On commit the kept copy is deleted.
///
/// The work runs on tokio's blocking thread pool, in one hop, on a copy of `contents`; a tokio
/// runtime is needed. Dropping the future does not stop a write that has started: it completes
/// (or fails and cleans up) in the background. Outside async code, use [`write_atomic_blocking`].
///
/// # Errors
///
/// Any I/O error, with what failed and on which path in the message: the directory does not exist
/// or is not writable, the disk is full, `path` is a directory, ... `path` is then unchanged.
/// Only an error to sync the directory comes after the rename: `path` then holds the new content,
/// which a power loss could still undo (and which a rollback of an enclosing atomic scope still
/// replaces with the old content).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// # let dir = std::env::temp_dir().join(format!("resilient-doc-write-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let state = dir.join("state.json");
/// resilient::fs::write_atomic(&state, br#"{"leader": "a"}"#).await?;
/// resilient::fs::write_atomic(&state, br#"{"leader": "b"}"#).await?;
/// assert_eq!(std::fs::read(&state)?, br#"{"leader": "b"}"#);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
pub async fn write_atomic(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let path = path.as_ref().to_path_buf();
    let contents = contents.as_ref().to_vec();
    // The scope is known on this thread, not on the blocking pool's: register here, before the
    // write starts, so that a scope cancelled meanwhile still undoes it once it is done.
    let undo_to = crate::atomic::in_scope().then(|| {
        let (undo_to, undo_from) = std::sync::mpsc::sync_channel::<Undo>(1);
        crate::atomic::on_rollback(move || {
            // Waits for a write still under way; a write that failed sent nothing to undo.
            if let Ok(undo) = undo_from.recv() {
                undo.restore();
            }
        });
        undo_to
    });
    run_blocking(move || {
        let register = undo_to.map(|undo_to| {
            move |undo| {
                let _committed_already = undo_to.send(undo);
            }
        });
        replace_file(&path, &contents, register)
    })
    .await
}

/// [`write_atomic`] for code that is not async: the same steps, on the calling thread.
///
/// # Errors
///
/// As [`write_atomic`].
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// # let dir = std::env::temp_dir().join(format!("resilient-doc-wab-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join("counter");
/// resilient::fs::write_atomic_blocking(&path, "1")?;
/// resilient::fs::write_atomic_blocking(&path, "2")?;
/// assert_eq!(std::fs::read_to_string(&path)?, "2");
/// // Nothing else is left in the directory.
/// assert_eq!(std::fs::read_dir(&dir)?.count(), 1);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
pub fn write_atomic_blocking(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let register = crate::atomic::in_scope()
        .then_some(|undo: Undo| crate::atomic::on_rollback(move || undo.restore()));
    replace_file(path.as_ref(), contents.as_ref(), register)
}

/// How to undo one write in an atomic scope: the previous file, kept aside under a hidden name
/// (a hard link, so nothing is copied), or the fact that there was none. Dropped unused (the scope
/// committed), it removes the kept file.
struct Undo {
    target: PathBuf,
    kept: Option<PathBuf>,
}

impl Undo {
    /// Puts the previous file back (or removes the new one), reporting a failure at ERROR: a
    /// compensation has no one to return an error to.
    fn restore(mut self) {
        let undone = match self.kept.take() {
            Some(kept) => fs::rename(&kept, &self.target),
            None => fs::remove_file(&self.target),
        };
        let undone = undone.and_then(|()| split(&self.target).and_then(|(dir, _)| sync_dir(dir)));
        if let Err(error) = undone {
            tracing::event!(
                name: "fs.rollback_failed",
                target: "resilient",
                Level::ERROR,
                correlation_id = crate::correlation::field(),
                path = %self.target.display(),
                error = %error,
                "cannot undo the write of {}: {error}",
                self.target.display()
            );
        }
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(kept) = self.kept.take() {
            let _ = fs::remove_file(kept);
        }
    }
}

/// The steps of [`write_atomic`]. With `register` (in an atomic scope), what undoing the write
/// needs is handed to it as soon as the file is replaced: before the directory sync, whose failure
/// must not lose the way back to the old content.
fn replace_file(
    path: &Path,
    contents: &[u8],
    register: Option<impl FnOnce(Undo)>,
) -> io::Result<()> {
    let target = resolve_symlinks(path)?;
    let (dir, name) = split(&target)?;
    let previous = match fs::metadata(&target) {
        Ok(meta) => Some(meta),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => {
            return Err(context(
                err,
                format_args!("cannot read {}", target.display()),
            ));
        }
    };

    // Replacing a file, the temp file is created readable by its owner only, then given the old
    // file's owner and mode: whoever could open it before that (and keep reading through the open
    // file) could read the old file too. A new file gets the mode a plain create gives, as the
    // final file will have it.
    let private = match previous {
        Some(_) => Private::Yes,
        None => Private::No,
    };
    let mut tmp = TempFile::create(dir, name, private)?;
    #[cfg(test)]
    probe::temp_file(tmp.path());
    if let Some(previous) = &previous {
        keep_metadata(&tmp, previous)?;
    }
    if let Err(err) = tmp.file_mut().write_all(contents) {
        return Err(context(
            err,
            format_args!("cannot write {}", tmp.path().display()),
        ));
    }
    tmp.file()
        .sync_all()
        .map_err(|err| context(err, format_args!("cannot sync {}", tmp.path().display())))?;
    let undo = register
        .map(|register| {
            keep_aside(&target, dir, name, previous.is_some()).map(|undo| (register, undo))
        })
        .transpose()?;
    #[cfg(test)]
    probe::temp_file(tmp.path());
    tmp.rename_to(&target)?;
    if let Some((register, undo)) = undo {
        register(undo);
    }
    sync_dir(dir).map_err(|err| {
        context(
            err,
            format_args!(
                "wrote {} but cannot sync its directory {}",
                target.display(),
                dir.display()
            ),
        )
    })
}

/// Keeps the file about to be replaced under a hidden name beside it, for a rollback.
fn keep_aside(target: &Path, dir: &Path, name: &std::ffi::OsStr, exists: bool) -> io::Result<Undo> {
    let kept = match exists {
        false => None,
        true => {
            let kept = dir.join(temp::temp_name(name, "undo"));
            fs::hard_link(target, &kept)
                .or_else(|_| fs::copy(target, &kept).map(drop))
                .map_err(|err| {
                    context(
                        err,
                        format_args!("cannot keep {} for a rollback", target.display()),
                    )
                })?;
            Some(kept)
        }
    };
    Ok(Undo {
        target: target.to_path_buf(),
        kept,
    })
}

/// Gives the temp file the permissions (and, where allowed, the owner) of the file it replaces.
fn keep_metadata(tmp: &TempFile, previous: &Metadata) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // Best effort: only root may give a file away, and a user only to their own groups; the
        // file then belongs to the writer, as any newly written file would. The owner goes first:
        // changing it clears the set-user-ID and set-group-ID bits, which the mode then restores.
        let own = tmp.file().metadata().map(|m| (m.uid(), m.gid()));
        if own.is_ok_and(|own| own != (previous.uid(), previous.gid())) {
            let uid = Some(previous.uid());
            let _ = std::os::unix::fs::fchown(tmp.file(), uid, Some(previous.gid()))
                .or_else(|_| std::os::unix::fs::fchown(tmp.file(), None, Some(previous.gid())));
        }
    }
    tmp.file()
        .set_permissions(previous.permissions())
        .map_err(|err| {
            context(
                err,
                format_args!("cannot set the permissions of {}", tmp.path().display()),
            )
        })
}

/// The file that writing to `path` would write: `path` itself, or where its chain of symbolic
/// links ends (even when that file does not exist yet, as `open` would create it).
fn resolve_symlinks(path: &Path) -> io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = fs::read_link(&current).map_err(|err| {
                    context(
                        err,
                        format_args!("cannot read the link {}", current.display()),
                    )
                })?;
                current = match current.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "cannot write {}: too many levels of symbolic links",
            path.display()
        ),
    ))
}

/// The directory holding `path` (`.` for a bare file name) and the file's name.
fn split(path: &Path) -> io::Result<(&Path, &std::ffi::OsStr)> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        )
    })?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    Ok((dir, name))
}

/// Flushes a directory's entries to disk, so that a rename or a new file in it survives a power
/// loss. Directories cannot be opened (nor need this) on other platforms.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(test)]
    probe::sync_fault(dir)?;
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Sets the permission bits of `path` to `mode` (such as `0o600`) if they differ; does nothing if
/// they are already right. Symbolic links are followed. The change is reported as the INFO event
/// `fs.mode_repaired`.
///
/// It never escalates privileges: a file the process may not change is reported, with the path,
/// the mode wanted and what to do about it, as an error of kind
/// [`PermissionDenied`](io::ErrorKind::PermissionDenied):
/// `cannot set mode 0600 on /etc/app/key: permission denied; fix the owner or run as a user that
/// owns it`.
///
/// Only Unix has permission bits. On other platforms `mode` sets the read-only flag: a mode
/// without the owner's write bit (`0o200`) makes the file read-only, any other makes it writable.
///
/// # Errors
///
/// `InvalidInput` for a `mode` above `0o7777`, `PermissionDenied` as above, and any error reading
/// or changing the file's metadata (a missing file is `NotFound`), naming the path.
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// # let dir = std::env::temp_dir().join(format!("resilient-doc-mode-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let key = dir.join("key.pem");
/// std::fs::write(&key, "secret")?;
/// resilient::fs::ensure_mode(&key, 0o600)?;
/// # #[cfg(unix)] {
/// use std::os::unix::fs::PermissionsExt;
/// assert_eq!(std::fs::metadata(&key)?.permissions().mode() & 0o7777, 0o600);
/// # }
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
pub fn ensure_mode(path: impl AsRef<Path>, mode: u32) -> io::Result<()> {
    let path = path.as_ref();
    if mode > 0o7777 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "cannot set mode {mode:o} on {}: a mode is at most 0o7777",
                path.display()
            ),
        ));
    }
    let meta = fs::metadata(path).map_err(|err| {
        context(
            err,
            format_args!("cannot read the mode of {}", path.display()),
        )
    })?;
    let (current, wanted) = mode_change(&meta, mode);
    if current == wanted {
        return Ok(());
    }
    match fs::set_permissions(path, wanted.clone()) {
        Ok(()) => {
            tracing::event!(
                name: "fs.mode_repaired",
                target: "resilient",
                Level::INFO,
                correlation_id = crate::correlation::field(),
                path = %path.display(),
                from = %describe(&current),
                to = %describe(&wanted),
                "set mode {} on {} (was {})",
                describe(&wanted),
                path.display(),
                describe(&current),
            );
            Ok(())
        }
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => Err(io::Error::new(
            err.kind(),
            format!(
                "cannot set mode {mode:04o} on {}: permission denied; fix the owner or run as a \
                 user that owns it",
                path.display()
            ),
        )),
        Err(err) => Err(context(
            err,
            format_args!("cannot set mode {mode:04o} on {}", path.display()),
        )),
    }
}

/// The permissions `path` has and the ones `mode` asks for.
#[cfg(unix)]
fn mode_change(meta: &Metadata, mode: u32) -> (fs::Permissions, fs::Permissions) {
    use std::os::unix::fs::PermissionsExt;
    let current = fs::Permissions::from_mode(meta.permissions().mode() & 0o7777);
    (current, fs::Permissions::from_mode(mode))
}

/// The permissions `path` has and the ones `mode` asks for: only the read-only flag.
#[cfg(not(unix))]
fn mode_change(meta: &Metadata, mode: u32) -> (fs::Permissions, fs::Permissions) {
    let current = meta.permissions();
    let mut wanted = current.clone();
    wanted.set_readonly(mode & 0o200 == 0);
    (current, wanted)
}

/// Permissions as the event shows them.
fn describe(permissions: &fs::Permissions) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        format!("{:04o}", permissions.mode())
    }
    #[cfg(not(unix))]
    {
        if permissions.readonly() {
            "read-only"
        } else {
            "writable"
        }
        .to_owned()
    }
}

/// `err` with what failed, and on which path, in front of its message; the kind is kept.
fn context(err: io::Error, what: impl Display) -> io::Error {
    io::Error::new(err.kind(), format!("{what}: {err}"))
}

/// Runs blocking file work on tokio's blocking pool, in one hop; a panic in it is resumed here.
async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    join(tokio::task::spawn_blocking(work).await)
}

fn join<T>(joined: Result<io::Result<T>, tokio::task::JoinError>) -> io::Result<T> {
    match joined {
        Ok(result) => result,
        Err(err) => match err.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(err) => Err(io::Error::other(format!("file work was cancelled: {err}"))),
        },
    }
}

/// Test-only points on the way of a write: faults to inject and states to observe, keyed by
/// directory so that tests running in parallel do not see each other's.
#[cfg(test)]
mod probe {
    use std::io;
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    /// Directories whose next sync fails, once each.
    static FAILING_SYNCS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    /// Watched directories, with the mode of every temp file seen in them, step by step.
    static TEMP_MODES: Mutex<Vec<(PathBuf, Vec<u32>)>> = Mutex::new(Vec::new());

    /// Makes the next sync of `dir` fail, as an I/O error of the disk would.
    pub(super) fn fail_next_sync(dir: &Path) {
        FAILING_SYNCS.lock().unwrap().push(dir.to_path_buf());
    }

    pub(super) fn sync_fault(dir: &Path) -> io::Result<()> {
        let mut failing = FAILING_SYNCS.lock().unwrap();
        match failing.iter().position(|failing| failing == dir) {
            Some(at) => {
                failing.remove(at);
                Err(io::Error::other("injected sync failure"))
            }
            None => Ok(()),
        }
    }

    /// Starts recording the modes of the temp files written in `dir`.
    pub(super) fn watch(dir: &Path) {
        TEMP_MODES
            .lock()
            .unwrap()
            .push((dir.to_path_buf(), Vec::new()));
    }

    /// The modes recorded in `dir` so far.
    pub(super) fn temp_modes(dir: &Path) -> Vec<u32> {
        let watched = TEMP_MODES.lock().unwrap();
        let found = watched.iter().find(|(watched, _)| watched == dir);
        found.map(|(_, modes)| modes.clone()).unwrap_or_default()
    }

    /// Records the mode the temp file at `path` has now, if its directory is watched.
    pub(super) fn temp_file(path: &Path) {
        let mut watched = TEMP_MODES.lock().unwrap();
        let dir = path.parent().unwrap_or(Path::new(""));
        if let Some((_, modes)) = watched.iter_mut().find(|(watched, _)| watched == dir) {
            #[cfg(unix)]
            modes.push(
                std::os::unix::fs::PermissionsExt::mode(
                    &std::fs::symlink_metadata(path).unwrap().permissions(),
                ) & 0o7777,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_file_name_is_in_the_current_directory() {
        assert_eq!(
            split(Path::new("file")).unwrap(),
            (Path::new("."), std::ffi::OsStr::new("file"))
        );
        assert_eq!(
            split(Path::new("dir/file")).unwrap(),
            (Path::new("dir"), std::ffi::OsStr::new("file"))
        );
    }

    /// A fresh directory for one test; tests remove it when they pass.
    fn test_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "resilient-fs-unit-{name}-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[cfg(unix)]
    #[test]
    fn the_temp_file_of_a_replaced_file_is_never_more_open_than_the_file() {
        use std::os::unix::fs::PermissionsExt;
        for target_mode in [0o600, 0o640, 0o400, 0o644] {
            let dir = test_dir("temp-mode");
            let path = dir.join("secret");
            fs::write(&path, "old").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(target_mode)).unwrap();
            probe::watch(&dir);
            write_atomic_blocking(&path, "new").unwrap();

            // Created private, whatever the umask; the file's own mode before it is renamed.
            let seen = probe::temp_modes(&dir);
            assert_eq!(seen, [0o600, target_mode], "target {target_mode:04o}");
            for mode in seen {
                assert_eq!(mode & 0o077 & !target_mode, 0, "{mode:04o}");
            }
            let final_mode = fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
            assert_eq!(final_mode, target_mode);
            fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn a_failed_directory_sync_after_the_rename_still_rolls_back() {
        let dir = test_dir("sync-fails-blocking");
        let (old, fresh) = (dir.join("old"), dir.join("fresh"));
        fs::write(&old, "old content").unwrap();
        for path in [&old, &fresh] {
            probe::fail_next_sync(&dir);
            let result = crate::atomic::scope_blocking(|| write_atomic_blocking(path, "new"));
            let err = result.unwrap_err();
            assert!(
                err.to_string().contains("cannot sync its directory"),
                "{err}"
            );
        }
        // The old file is back, the new one gone, and no kept copy is left.
        assert_eq!(fs::read_to_string(&old).unwrap(), "old content");
        assert_eq!(names(&dir), ["old"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_failed_directory_sync_after_the_rename_still_rolls_back_async() {
        let dir = test_dir("sync-fails-async");
        let (old, fresh) = (dir.join("old"), dir.join("fresh"));
        fs::write(&old, "old content").unwrap();
        for path in [&old, &fresh] {
            probe::fail_next_sync(&dir);
            let result = crate::atomic::scope(async { write_atomic(path, "new").await }).await;
            let err = result.unwrap_err();
            assert!(
                err.to_string().contains("cannot sync its directory"),
                "{err}"
            );
        }
        assert_eq!(fs::read_to_string(&old).unwrap(), "old content");
        assert_eq!(names(&dir), ["old"]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
