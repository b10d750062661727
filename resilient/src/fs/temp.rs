//! Temp files and directories beside their target, removed on every path that does not keep them.

use super::context;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// How many random names to try before giving up: a collision needs another writer to have picked
/// the same 64 random bits, so a second try is already a sign of something odd.
const ATTEMPTS: u32 = 16;

/// A name beside `name` for work in progress: `.{name}.{tag}{random}.tmp`. Hidden, and never
/// matching a name the caller would look for. A long `name` is shortened so that the result stays
/// within the usual 255-byte limit on a file name.
pub(super) fn temp_name(name: &OsStr, tag: &str) -> OsString {
    let mut temp = OsString::from(".");
    if name.len() <= 200 {
        temp.push(name);
    } else {
        temp.push(name.to_string_lossy().chars().take(50).collect::<String>());
    }
    temp.push(format!(".{tag}{:016x}.tmp", fastrand::u64(..)));
    temp
}

/// Calls `create` with fresh temp names beside `name` in `dir` until one does not exist yet.
fn create_unique<T>(
    dir: &Path,
    name: &OsStr,
    tag: &str,
    what: &str,
    mut create: impl FnMut(&Path) -> io::Result<T>,
) -> io::Result<(PathBuf, T)> {
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let path = dir.join(temp_name(name, tag));
        match create(&path) {
            Ok(made) => return Ok((path, made)),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => last = Some(err),
            Err(err) => {
                return Err(context(
                    err,
                    format_args!("cannot create a {what} in {}", dir.display()),
                ));
            }
        }
    }
    let err = last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists));
    Err(context(
        err,
        format_args!(
            "cannot create a {what} in {}: every name tried was taken",
            dir.display()
        ),
    ))
}

/// Whether a temp file is created readable by its owner only, whatever the umask.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Private {
    /// Mode `0o600`, for content whose final permissions are not known yet (an archive).
    #[cfg_attr(not(feature = "backup"), allow(dead_code))]
    Yes,
    /// The mode a plain create gives (`0o666` less the umask).
    No,
}

/// A new file of our own beside the target, removed when dropped unless renamed into place.
pub(super) struct TempFile {
    path: PathBuf,
    file: File,
    /// False once the file has a final name.
    armed: bool,
}

impl TempFile {
    /// Creates `.{name}.{random}.tmp` in `dir`, exclusively: an existing file (a leftover of a
    /// crashed writer, or another writer's) is never opened, another name is tried instead.
    pub(super) fn create(dir: &Path, name: &OsStr, private: Private) -> io::Result<Self> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if private == Private::Yes {
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        let (path, file) = create_unique(dir, name, "", "temp file", |path| options.open(path))?;
        Ok(TempFile {
            path,
            file,
            armed: true,
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn file(&self) -> &File {
        &self.file
    }

    pub(super) fn file_mut(&mut self) -> &mut File {
        &mut self.file
    }

    /// Renames the file over `target` (replacing what is there); on failure it is removed.
    pub(super) fn rename_to(mut self, target: &Path) -> io::Result<()> {
        fs::rename(&self.path, target).map_err(|err| {
            let (from, to) = (self.path.display(), target.display());
            context(err, format_args!("cannot rename {from} to {to}"))
        })?;
        self.armed = false;
        Ok(())
    }

    /// Gives the file the name `target` if nothing has it yet: `Ok(false)` when the name is
    /// taken, and the file is kept for another try. Never replaces an existing file.
    #[cfg(feature = "backup")]
    pub(super) fn link_as_new(&mut self, target: &Path) -> io::Result<bool> {
        let (from, to) = (self.path.display(), target.display());
        // A hard link fails if the name exists: no window in which another writer's file could
        // be replaced. Some file systems (FAT, some network mounts) have no hard links; there a
        // check then a rename does, with a tiny window.
        let linked = match fs::hard_link(&self.path, target) {
            Ok(()) => true,
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
            Err(_) if fs::symlink_metadata(target).is_ok() => return Ok(false),
            Err(_) => {
                fs::rename(&self.path, target)
                    .map_err(|err| context(err, format_args!("cannot rename {from} to {to}")))?;
                false
            }
        };
        self.armed = false;
        if linked {
            fs::remove_file(&self.path).map_err(|err| {
                context(
                    err,
                    format_args!("{to} is written but cannot remove {from}"),
                )
            })?;
        }
        Ok(true)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A new directory of our own beside the target, removed with its content when dropped unless
/// renamed into place.
#[cfg(feature = "backup")]
pub(super) struct TempDir {
    path: PathBuf,
    armed: bool,
}

#[cfg(feature = "backup")]
impl TempDir {
    /// Creates `.{name}.{tag}{random}.tmp` in `dir`, accessible to its owner only (`0o700`) until
    /// its content has its own permissions; an existing directory is never reused.
    pub(super) fn create(dir: &Path, name: &OsStr, tag: &str) -> io::Result<Self> {
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        let (path, ()) = create_unique(dir, name, tag, "temp directory", |path| {
            builder.create(path)
        })?;
        Ok(TempDir { path, armed: true })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the directory: it has been renamed or is now owned by someone else.
    pub(super) fn disarm(&mut self) {
        self.armed = false;
    }
}

#[cfg(feature = "backup")]
impl Drop for TempDir {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_temp_name_is_skipped_and_left_alone() {
        let dir = std::env::temp_dir().join(format!(
            "resilient-temp-unit-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        fs::create_dir_all(&dir).unwrap();
        let name = OsStr::new("state");
        // The same seed gives the same names: the first is taken by someone else.
        fastrand::seed(7);
        let (taken, next) = (temp_name(name, ""), temp_name(name, ""));
        fs::write(dir.join(&taken), "another writer's").unwrap();
        fastrand::seed(7);
        let tmp = TempFile::create(&dir, name, Private::Yes).unwrap();
        assert_eq!(tmp.path(), dir.join(&next));
        drop(tmp);
        assert_eq!(
            fs::read_to_string(dir.join(&taken)).unwrap(),
            "another writer's"
        );
        assert!(!dir.join(&next).exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
