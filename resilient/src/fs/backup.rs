//! Recovery points: [`backup`] archives a file or a directory as a timestamped `.tar.gz`,
//! [`restore`] puts it back as one swap, refusing any entry that would land outside the target,
//! and [`keep_newest`] prunes old backups.

use super::temp::{Private, TempDir, TempFile, temp_name};
use super::{context, run_blocking, split, sync_dir};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use std::collections::{BTreeMap, VecDeque};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata};
use std::io::{self, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tar::{EntryType, Header, HeaderMode};
use tracing::Level;

/// Symbolic links followed, at most, to decide where a link ends (as Linux does).
const MAX_HOPS: u32 = 40;

/// The PAX record, on an archive's root entry, naming the directory the backup left out (its own
/// destination, inside the source): a restore carries that directory over from the target.
const LEFT_OUT: &str = "RESILIENT.left_out";

/// Archives `src` (a file or a directory) as `dest_dir/backup-YYYYMMDD-HHMMSS.tar.gz`, the time
/// being now in UTC, and returns the archive's path.
///
/// - A directory is archived with everything in it, paths relative to `src`, in name order:
///   directories, files, and symbolic links as links (never followed). Sockets, FIFOs and devices
///   are skipped, each with a WARN event `fs.backup_skipped`. If `dest_dir` is inside `src`, it is
///   left out (a backup never contains backups), and the archive says so: [`restore`] keeps that
///   directory as it is in the target.
/// - A symbolic link must stay inside `src`: a link with an absolute path, or one that climbs out
///   of `src` (by its text or through other links), is refused, as [`restore`] would refuse it.
/// - A file is archived as one entry.
/// - Modes and modification times are kept (owners too, though [`restore`] does not set them).
/// - The archive is written to a temp file in `dest_dir`, flushed to disk, then given its name:
///   a crash never leaves a partial archive under a `backup-*.tar.gz` name. It is readable by
///   its owner only (mode `0o600`), whatever it holds.
/// - A second backup in the same second does not replace the first: it is named
///   `backup-YYYYMMDD-HHMMSS-1.tar.gz`, then `-2`, ...
///
/// A file that changes while it is archived is archived as read, at the size it had when the
/// backup reached it. The work runs on tokio's blocking thread pool.
///
/// # Errors
///
/// Any I/O error, naming the path: `src` or `dest_dir` does not exist, a file cannot be read, the
/// disk is full, `dest_dir` is `src` itself (`InvalidInput`), a symbolic link leaves `src`
/// (`InvalidInput`, naming the link and where it points). No archive is left behind then.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// # let tmp = std::env::temp_dir().join(format!("resilient-doc-backup-{}", std::process::id()));
/// # std::fs::create_dir_all(&tmp)?;
/// let data = tmp.join("data");
/// let backups = tmp.join("backups");
/// std::fs::create_dir_all(data.join("users"))?;
/// std::fs::create_dir_all(&backups)?;
/// std::fs::write(data.join("users/ada.json"), r#"{"name": "Ada"}"#)?;
///
/// let archive = resilient::fs::backup(&data, &backups).await?;
/// let name = archive.file_name().unwrap().to_str().unwrap();
/// assert!(name.starts_with("backup-") && name.ends_with(".tar.gz"));
///
/// std::fs::remove_file(data.join("users/ada.json"))?; // oops
/// resilient::fs::restore(&archive, &data).await?;
/// assert_eq!(std::fs::read_to_string(data.join("users/ada.json"))?, r#"{"name": "Ada"}"#);
/// # std::fs::remove_dir_all(&tmp)?;
/// # Ok(()) }
/// ```
pub async fn backup(src: impl AsRef<Path>, dest_dir: impl AsRef<Path>) -> io::Result<PathBuf> {
    let src = src.as_ref().to_path_buf();
    let dest_dir = dest_dir.as_ref().to_path_buf();
    run_blocking(move || backup_blocking(&src, &dest_dir)).await
}

fn backup_blocking(src: &Path, dest_dir: &Path) -> io::Result<PathBuf> {
    let fail = |err| context(err, format_args!("cannot back up {}", src.display()));
    let meta = fs::metadata(src).map_err(fail)?;
    // Left out of the archive: `dest_dir`, if it is inside `src`.
    let mut skip = None;
    if meta.is_dir() {
        let (src, dest) = (fs::canonicalize(src), fs::canonicalize(dest_dir));
        if let (Ok(src), Ok(dest)) = (src, dest) {
            if dest == src {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("cannot back up {} into itself", src.display()),
                ));
            }
            if let Ok(inside) = dest.strip_prefix(&src) {
                skip = Some(inside.to_path_buf());
            }
        }
    }

    let stamp = utc_stamp(SystemTime::now())?;
    let first = format!("backup-{stamp}.tar.gz");
    let mut tmp = TempFile::create(dest_dir, OsStr::new(&first), Private::Yes)?;
    let tmp_path = tmp.path().to_path_buf();
    let mut archive = tar::Builder::new(GzEncoder::new(tmp.file_mut(), Compression::default()));
    if meta.is_dir() {
        append_tree(&mut archive, src, &meta, skip.as_deref())?;
    } else {
        let name = src
            .file_name()
            .ok_or_else(|| fail(io::ErrorKind::InvalidInput.into()))?;
        append_entry(&mut archive, src, Path::new(name), &meta)?;
    }
    let finished = archive
        .into_inner()
        .and_then(|gz| gz.finish())
        .and_then(|f| f.sync_all());
    finished.map_err(|err| context(err, format_args!("cannot write {}", tmp_path.display())))?;

    for n in 0u32.. {
        let name = match n {
            0 => first.clone(),
            n => format!("backup-{stamp}-{n}.tar.gz"),
        };
        let path = dest_dir.join(name);
        if tmp.link_as_new(&path)? {
            sync_dir(dest_dir).map_err(|err| {
                let dir = dest_dir.display();
                context(
                    err,
                    format_args!("wrote {} but cannot sync {dir}", path.display()),
                )
            })?;
            return Ok(path);
        }
    }
    unreachable!("more than u32::MAX backups in one second")
}

/// Appends the directory `src` and everything under it, depth first in name order.
fn append_tree(
    archive: &mut tar::Builder<impl Write>,
    src: &Path,
    meta: &Metadata,
    skip: Option<&Path>,
) -> io::Result<()> {
    if let Some(skip) = skip {
        archive
            .append_pax_extensions([(LEFT_OUT, path_bytes(skip).as_ref())])
            .map_err(|err| context(err, format_args!("cannot archive {}", src.display())))?;
    }
    // The root is `./`: it marks a directory archive, even one holding a single file.
    append_entry(archive, src, Path::new("./"), meta)?;
    // Every link archived, by path in the archive, with its text.
    let mut links = BTreeMap::new();
    let mut todo = children(src, Path::new(""))?;
    while let Some(rel) = todo.pop() {
        let path = src.join(&rel);
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            // Removed since the directory was listed: not there to back up.
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(context(err, format_args!("cannot read {}", path.display()))),
        };
        if meta.is_dir() && skip == Some(rel.as_path()) {
            continue;
        }
        match append_entry(archive, &path, &rel, &meta) {
            // Removed since the directory was listed: not there to back up.
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Ok(Some(to)) => {
                links.insert(rel, to);
                continue;
            }
            result => result?,
        };
        if meta.is_dir() {
            todo.extend(children(&path, &rel)?);
        }
    }
    // Checked once all are known: each link's text may stay inside while a chain of them climbs
    // out.
    for (rel, to) in &links {
        if !resolves_inside(rel, to, |at| Ok(links.get(at).cloned()))? {
            return Err(leaves_source(src, rel, to));
        }
    }
    Ok(())
}

/// The refusal of a symbolic link that [`restore`] would refuse: it leaves the source.
fn leaves_source(src: &Path, rel: &Path, to: &Path) -> io::Error {
    invalid_input(format_args!(
        "cannot back up {}: `{}` is a symbolic link to `{}`, which leads outside {}, and a \
         restore never writes such a link; make it a relative link inside, or move it out",
        src.display(),
        rel.display(),
        to.display(),
        src.display(),
    ))
}

/// A relative path as PAX record bytes.
fn path_bytes(path: &Path) -> std::borrow::Cow<'_, [u8]> {
    #[cfg(unix)]
    return std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()).into();
    #[cfg(not(unix))]
    return path.to_string_lossy().into_owned().into_bytes().into();
}

/// A relative path from PAX record bytes.
fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    #[cfg(unix)]
    return PathBuf::from(<OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(bytes));
    #[cfg(not(unix))]
    return PathBuf::from(String::from_utf8_lossy(bytes).into_owned());
}

/// The entries of the directory `path` (at `rel` in the archive), last name first: a stack of
/// what to visit.
fn children(path: &Path, rel: &Path) -> io::Result<Vec<PathBuf>> {
    let fail = |err| context(err, format_args!("cannot list {}", path.display()));
    let mut names = Vec::new();
    for entry in fs::read_dir(path).map_err(fail)? {
        names.push(entry.map_err(fail)?.file_name());
    }
    names.sort_unstable_by(|a, b| b.cmp(a));
    Ok(names.into_iter().map(|name| rel.join(name)).collect())
}

/// Appends one file, directory or symbolic link found at `path` as `rel`; returns a link's text.
fn append_entry(
    archive: &mut tar::Builder<impl Write>,
    path: &Path,
    rel: &Path,
    meta: &Metadata,
) -> io::Result<Option<PathBuf>> {
    let mut header = Header::new_gnu();
    header.set_metadata_in_mode(meta, HeaderMode::Complete);
    header.set_mode(header.mode().unwrap_or(0o644) & 0o7777);
    let fail = |err| context(err, format_args!("cannot archive {}", path.display()));
    let kind = meta.file_type();
    if kind.is_dir() {
        header.set_entry_type(EntryType::Directory);
        // `sub/`, as tar names directories.
        archive
            .append_data(&mut header, rel.join(""), io::empty())
            .map_err(fail)?;
        Ok(None)
    } else if kind.is_file() {
        let file = File::open(path).map_err(fail)?;
        // Exactly the size the header says, even if the file grows or shrinks meanwhile.
        let len = meta.len();
        let data = file.take(len).chain(io::repeat(0)).take(len);
        archive.append_data(&mut header, rel, data).map_err(fail)?;
        Ok(None)
    } else if kind.is_symlink() {
        let target = fs::read_link(path).map_err(fail)?;
        archive
            .append_link(&mut header, rel, &target)
            .map_err(fail)?;
        Ok(Some(target))
    } else {
        tracing::event!(
            name: "fs.backup_skipped",
            target: "resilient",
            Level::WARN,
            correlation_id = crate::correlation::field(),
            path = %path.display(),
            kind = ?kind,
            "backup skipped {}: not a file, directory or symbolic link",
            path.display(),
        );
        Ok(None)
    }
}

/// `YYYYMMDD-HHMMSS` in UTC.
fn utc_stamp(now: SystemTime) -> io::Result<String> {
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| io::Error::other("the system clock is set before 1970"))?
        .as_secs();
    let (days, secs) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let (hh, mm, ss) = (secs / 3600, secs / 60 % 60, secs % 60);
    Ok(format!("{y:04}{m:02}{d:02}-{hh:02}{mm:02}{ss:02}"))
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..146097
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, 0..400
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1st
    let mp = (5 * doy + 2) / 153; // month from March, 0..12
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Makes `target` hold exactly what `archive` (made by [`backup`]) holds: a file if a file was
/// backed up, a directory with exactly the archived content if a directory was.
///
/// Nothing is written to `target` until the whole archive has been checked and extracted into a
/// temp directory beside it (`.{name}.restore-{random}.tmp`); then the new content is swapped in:
/// a file by one rename, a directory by moving the old one aside, renaming the new one in and
/// removing the old one. A restore that fails (a bad entry, a corrupt archive, a full disk)
/// leaves `target` exactly as it was and removes what it extracted.
///
/// A restore never deletes a recovery point. The directory a backup left out (its own destination,
/// inside the source) is kept in `target` as it is now, with every backup in it, the archive
/// included. An archive that lies elsewhere inside `target`, where the restore would delete it,
/// is refused with `InvalidInput` before anything is changed: move it out of `target` first.
///
/// Refused, as an `InvalidData` error before anything reaches `target`:
/// - an entry whose path has `..` or is absolute;
/// - a symbolic link pointing outside the target (absolute, or climbing out with `..`, also
///   through other links of the archive), or an entry written through a symbolic link;
/// - a hard link to anything but a regular file of the archive itself;
/// - devices, FIFOs and other special entries, any path given twice, an entry inside the
///   directory the archive says it left out, and an archive that holds nothing.
///
/// Modes are restored without the set-user-ID bit (and on files without the set-group-ID bit
/// either: a restore never makes a program that runs with someone else's rights); files get their
/// modification times back; owners are not set (the files belong to the restoring user).
/// `target` may be missing (its parent must exist); an existing `target` of the other kind (a
/// directory where the archive holds a file, or the reverse) or a symbolic link is refused with
/// `InvalidInput`. The work runs on tokio's blocking thread pool.
///
/// Between the two renames of a directory swap, or before the left-out directory is moved over, a
/// crash leaves the old content (with that directory) under `.{name}.old-{random}.tmp` beside
/// `target`.
///
/// # Errors
///
/// As above, and any I/O error, naming the path.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// # let tmp = std::env::temp_dir().join(format!("resilient-doc-restore-{}", std::process::id()));
/// # std::fs::create_dir_all(&tmp)?;
/// let settings = tmp.join("settings.toml");
/// std::fs::write(&settings, "mode = \"safe\"\n")?;
/// let archive = resilient::fs::backup(&settings, &tmp).await?;
///
/// std::fs::write(&settings, "mode = \"broken\"\n")?;
/// resilient::fs::restore(&archive, &settings).await?;
/// assert_eq!(std::fs::read_to_string(&settings)?, "mode = \"safe\"\n");
/// # std::fs::remove_dir_all(&tmp)?;
/// # Ok(()) }
/// ```
pub async fn restore(archive: impl AsRef<Path>, target: impl AsRef<Path>) -> io::Result<()> {
    let archive = archive.as_ref().to_path_buf();
    let target = target.as_ref().to_path_buf();
    run_blocking(move || restore_blocking(&archive, &target)).await
}

fn restore_blocking(archive: &Path, target: &Path) -> io::Result<()> {
    let (parent, name) = split(target)?;
    let existing = match fs::symlink_metadata(target) {
        Ok(meta) => Some(meta),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => {
            return Err(context(
                err,
                format_args!("cannot read {}", target.display()),
            ));
        }
    };
    if existing
        .as_ref()
        .is_some_and(|meta| meta.file_type().is_symlink())
    {
        return Err(invalid_input(format_args!(
            "cannot restore into {}: it is a symbolic link; restore into what it points to",
            target.display()
        )));
    }
    let file = File::open(archive)
        .map_err(|err| context(err, format_args!("cannot open {}", archive.display())))?;

    let mut staging = TempDir::create(parent, name, "restore-")?;
    let mut extract = Extract {
        archive,
        target,
        root: staging.path(),
        dirs: BTreeMap::new(),
        links: Vec::new(),
        left_out: None,
    };
    let single_file = extract.run(BufReader::new(file))?;
    if existing.is_some() {
        refuse_to_delete(archive, target, extract.left_out.as_deref())?;
    }
    let existing_dir = existing.as_ref().map(Metadata::is_dir);
    if single_file.is_some() && existing_dir == Some(true) {
        return Err(invalid_input(format_args!(
            "cannot restore {} into {}: the archive holds a file, {} is a directory",
            archive.display(),
            target.display(),
            target.display()
        )));
    }
    if single_file.is_none() && existing_dir == Some(false) {
        return Err(invalid_input(format_args!(
            "cannot restore {} into {}: the archive holds a directory, {} is not one",
            archive.display(),
            target.display(),
            target.display()
        )));
    }
    extract.finish()?;

    let synced = match (single_file, existing_dir) {
        (Some(file), _) => {
            // One rename replaces the file; the staging directory, then empty, is removed.
            rename(&staging.path().join(file), target)?;
            sync_dir(parent)
        }
        (None, None) => {
            rename(staging.path(), target)?;
            staging.disarm();
            sync_dir(parent)
        }
        (None, Some(_)) => {
            let left_out = extract.left_out.as_deref();
            return swap_in(&mut staging, target, parent, name, left_out);
        }
    };
    synced.map_err(|err| context(err, format_args!("cannot sync {}", parent.display())))
}

/// Refuses a restore that would delete `archive`: one that is `target`, or lies inside the
/// directory `target` but not in the directory `left_out` (relative to `target`) that the restore
/// keeps.
fn refuse_to_delete(archive: &Path, target: &Path, left_out: Option<&Path>) -> io::Result<()> {
    let (Ok(archive_at), Ok(target_at)) = (fs::canonicalize(archive), fs::canonicalize(target))
    else {
        return Ok(());
    };
    let Ok(inside) = archive_at.strip_prefix(&target_at) else {
        return Ok(());
    };
    if left_out.is_some_and(|left_out| inside.starts_with(left_out)) {
        return Ok(());
    }
    Err(invalid_input(format_args!(
        "cannot restore {} into {}: the archive is inside {}, and the restore would delete it; \
         move it out of {} first",
        archive.display(),
        target.display(),
        target.display(),
        target.display(),
    )))
}

/// Replaces the directory `target` with `staging`: the old one is moved aside, the new one
/// renamed in, `left_out` moved over from the old one, the old one removed. If the new one cannot
/// be renamed in, the old one goes back.
fn swap_in(
    staging: &mut TempDir,
    target: &Path,
    parent: &Path,
    name: &OsStr,
    left_out: Option<&Path>,
) -> io::Result<()> {
    let old = parent.join(temp_name(name, "old-"));
    rename(target, &old)?;
    if let Err(err) = rename(staging.path(), target) {
        return match rename(&old, target) {
            Ok(()) => Err(err),
            Err(back) => Err(io::Error::new(
                err.kind(),
                format!(
                    "{err}; and the old content stays at {} ({back})",
                    old.display()
                ),
            )),
        };
    }
    staging.disarm();
    let synced = sync_dir(parent);
    if let Some(left_out) = left_out {
        carry_over(&old, target, left_out)?;
    }
    if let Err(err) = fs::remove_dir_all(&old) {
        tracing::event!(
            name: "fs.restore_cleanup_failed",
            target: "resilient",
            Level::WARN,
            correlation_id = crate::correlation::field(),
            path = %old.display(),
            error = %err,
            "restored {} but cannot remove its old content at {}: {err}",
            target.display(),
            old.display(),
        );
    }
    synced.map_err(|err| context(err, format_args!("cannot sync {}", parent.display())))
}

/// Moves `left_out` from the old content at `old` into the restored `target`, if it is there.
/// On failure `old` is kept, with it: the error says where.
fn carry_over(old: &Path, target: &Path, left_out: &Path) -> io::Result<()> {
    let from = old.join(left_out);
    if fs::symlink_metadata(&from).is_err() {
        return Ok(());
    }
    let to = target.join(left_out);
    let moved = rename(&from, &to).and_then(|()| {
        let dir = to.parent().unwrap_or(target);
        sync_dir(dir).map_err(|err| context(err, format_args!("cannot sync {}", dir.display())))
    });
    moved.map_err(|err| {
        io::Error::new(
            err.kind(),
            format!(
                "restored {} but {err}; {} stays at {}",
                target.display(),
                left_out.display(),
                from.display()
            ),
        )
    })
}

fn rename(from: &Path, to: &Path) -> io::Result<()> {
    fs::rename(from, to).map_err(|err| {
        let (from, to) = (from.display(), to.display());
        context(err, format_args!("cannot rename {from} to {to}"))
    })
}

/// One extraction into a staging directory, checking every entry before it is written.
struct Extract<'a> {
    archive: &'a Path,
    target: &'a Path,
    /// The staging directory: where `target` is built.
    root: &'a Path,
    /// Every directory made, by path relative to `root` (`""` for `root`), with the mode the
    /// archive gives it; modes are set last, so that a read-only directory can be filled first.
    dirs: BTreeMap<PathBuf, Option<u32>>,
    /// Every symbolic link made, by path relative to `root`.
    links: Vec<PathBuf>,
    /// The directory the backup left out, relative to `root`, as the archive's root entry says.
    left_out: Option<PathBuf>,
}

impl Extract<'_> {
    /// Extracts and checks everything; returns the path of the file if the archive is a
    /// single-file backup. Directories keep an owner-only mode until [`Extract::finish`].
    fn run(&mut self, reader: impl Read) -> io::Result<Option<PathBuf>> {
        let archive_path = self.archive;
        let corrupt = |err: io::Error| {
            let archive = archive_path.display();
            context(err, format_args!("cannot read the archive {archive}"))
        };
        self.dirs.insert(PathBuf::new(), None);
        let mut archive = tar::Archive::new(GzDecoder::new(reader));
        let mut count = 0;
        let mut single_file = None;
        for entry in archive.entries().map_err(corrupt)? {
            let mut entry = entry.map_err(corrupt)?;
            let kind = entry.header().entry_type();
            if kind.is_pax_global_extensions() {
                continue;
            }
            count += 1;
            let raw = entry.path().map_err(corrupt)?.into_owned();
            let rel = self.checked_path(&raw)?;
            let is_file = self.entry(&mut entry, kind, &rel).map_err(|err| {
                if Refused::is(&err) {
                    return err;
                }
                let archive = archive_path.display();
                context(
                    err,
                    format_args!("cannot restore `{}` from {archive}", raw.display()),
                )
            })?;
            single_file = (count == 1 && is_file).then_some(rel);
        }
        if count == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("refused {}: it holds nothing", self.archive.display()),
            ));
        }
        let root = self.root;
        let link_at = |here: &Path| {
            let path = root.join(here);
            match fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => fs::read_link(&path).map(Some),
                _ => Ok(None),
            }
        };
        for link in &self.links {
            if !resolves_inside(link, &fs::read_link(root.join(link))?, link_at)? {
                return Err(self.refused(link, "is a symbolic link pointing outside the target"));
            }
        }
        if let Some(left_out) = self.left_out.clone() {
            // Its place is kept free, in a directory of the archive, for the target's own.
            if fs::symlink_metadata(root.join(&left_out)).is_ok() {
                return Err(self.refused(&left_out, "is in the archive, which says it left it out"));
            }
            self.parents(&left_out)?;
        }
        Ok(single_file)
    }

    /// Flushes what was extracted to disk and gives the directories their modes.
    fn finish(&self) -> io::Result<()> {
        // Children before parents: a directory's mode may forbid syncing what is inside it.
        for (rel, mode) in self.dirs.iter().rev() {
            let path = self.root.join(rel);
            sync_dir(&path)
                .map_err(|err| context(err, format_args!("cannot sync {}", path.display())))?;
            if let Some(mode) = mode {
                set_dir_mode(&path, *mode)?;
            }
        }
        Ok(())
    }

    /// Extracts one entry at `rel`; true if it is a regular file.
    fn entry(
        &mut self,
        entry: &mut tar::Entry<'_, impl Read>,
        kind: EntryType,
        rel: &Path,
    ) -> io::Result<bool> {
        let path = self.root.join(rel);
        let mode = entry.header().mode()?;
        if kind.is_dir() {
            if rel.as_os_str().is_empty() {
                self.dirs.insert(PathBuf::new(), Some(mode));
                self.read_left_out(entry)?;
                return Ok(false);
            }
            self.parents(rel)?;
            match fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => return Err(self.refused(rel, "is given twice")),
                Err(_) => fs::create_dir(&path)?,
            }
            self.dirs.insert(rel.to_path_buf(), Some(mode));
            return Ok(false);
        }
        if rel.as_os_str().is_empty() {
            return Err(self.refused(rel, "is the root but not a directory"));
        }
        self.parents(rel)?;
        if kind.is_file() || kind.is_contiguous() || kind.is_gnu_sparse() {
            let mut file = File::create_new(&path).map_err(|err| self.twice(err, rel))?;
            io::copy(entry, &mut file)?;
            set_file_mode(&file, mode)?;
            let mtime = entry.header().mtime().ok();
            if let Some(mtime) = mtime.and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)))
            {
                file.set_modified(mtime)?;
            }
            file.sync_all()?;
            Ok(true)
        } else if kind.is_symlink() {
            let to = entry.link_name()?.unwrap_or_default().into_owned();
            if !lexically_inside(rel, &to) {
                return Err(self.refused(rel, "is a symbolic link pointing outside the target"));
            }
            symlink(&to, &path).map_err(|err| self.twice(err, rel))?;
            self.links.push(rel.to_path_buf());
            Ok(false)
        } else if kind.is_hard_link() {
            let raw = entry.link_name()?.unwrap_or_default().into_owned();
            let to = self.checked_path(&raw)?;
            self.parents(&to)?;
            match fs::symlink_metadata(self.root.join(&to)) {
                Ok(meta) if meta.is_file() => {}
                _ => return Err(self.refused(rel, "is a hard link to no file of the archive")),
            }
            fs::hard_link(self.root.join(&to), &path).map_err(|err| self.twice(err, rel))?;
            Ok(false)
        } else {
            Err(self.refused(rel, "is not a file, directory or link"))
        }
    }

    /// Reads from the root entry which directory the backup left out, if any.
    fn read_left_out(&mut self, entry: &mut tar::Entry<'_, impl Read>) -> io::Result<()> {
        let Some(extensions) = entry.pax_extensions()? else {
            return Ok(());
        };
        for extension in extensions {
            let extension = extension?;
            if extension.key_bytes() != LEFT_OUT.as_bytes() {
                continue;
            }
            let raw = path_from_bytes(extension.value_bytes());
            let rel = self.checked_path(&raw)?;
            if rel.as_os_str().is_empty() {
                return Err(self.refused(&raw, "is said left out, but it is the whole target"));
            }
            self.left_out = Some(rel);
        }
        Ok(())
    }

    /// `raw` as a path inside the target, or an error if it is absolute or has `..`.
    fn checked_path(&self, raw: &Path) -> io::Result<PathBuf> {
        let mut rel = PathBuf::new();
        for component in raw.components() {
            match component {
                Component::Normal(name) => rel.push(name),
                Component::CurDir => {}
                Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                    return Err(self.refused(raw, "would land outside the target"));
                }
            }
        }
        Ok(rel)
    }

    /// Makes the directories above `rel`, refusing to go through a symbolic link.
    fn parents(&mut self, rel: &Path) -> io::Result<()> {
        let mut dir = PathBuf::new();
        let Some(parent) = rel.parent() else {
            return Ok(());
        };
        for component in parent.components() {
            dir.push(component);
            let path = self.root.join(&dir);
            match fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => {}
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(self.refused(rel, "goes through a symbolic link"));
                }
                Ok(_) => {
                    return Err(self.refused(rel, "is inside something that is not a directory"));
                }
                Err(_) => {
                    fs::create_dir(&path)?;
                    self.dirs.insert(dir.clone(), None);
                }
            }
        }
        Ok(())
    }

    /// The error for an entry that must not be restored: `why` completes "entry `x` ...".
    fn refused(&self, entry: &Path, why: &str) -> io::Error {
        let message = format!(
            "refused {}: entry `{}` {why}; nothing was restored to {}",
            self.archive.display(),
            entry.display(),
            self.target.display(),
        );
        io::Error::new(io::ErrorKind::InvalidData, Refused(message))
    }

    /// `err`, or for a path that exists already, the refusal of an entry given twice.
    fn twice(&self, err: io::Error, rel: &Path) -> io::Error {
        match err.kind() {
            io::ErrorKind::AlreadyExists => self.refused(rel, "is given twice"),
            _ => err,
        }
    }
}

/// An entry that must not be restored: an error that needs no more context.
#[derive(Debug)]
struct Refused(String);

impl Refused {
    fn is(err: &io::Error) -> bool {
        err.get_ref().is_some_and(|inner| inner.is::<Refused>())
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Whether the symbolic link at `rel` (relative to a root), with the text `to`, ends inside the
/// root, following the links it meets on the way (which may climb out where the link's own text
/// seems not to). `link_at` gives the text of the link at a path relative to the root, if one is
/// there.
fn resolves_inside(
    rel: &Path,
    to: &Path,
    link_at: impl Fn(&Path) -> io::Result<Option<PathBuf>>,
) -> io::Result<bool> {
    let mut at: Vec<OsString> = names(rel.parent().unwrap_or(Path::new("")));
    let mut todo: VecDeque<Step> = steps(to);
    let mut hops = 0;
    while let Some(step) = todo.pop_front() {
        match step {
            Step::Out => return Ok(false),
            Step::Up if at.pop().is_none() => return Ok(false),
            Step::Up => {}
            Step::Name(name) => {
                at.push(name);
                let here: PathBuf = at.iter().collect();
                if let Some(link) = link_at(&here)? {
                    hops += 1;
                    if hops > MAX_HOPS {
                        return Ok(false);
                    }
                    at.pop();
                    for step in steps(&link).into_iter().rev() {
                        todo.push_front(step);
                    }
                }
            }
        }
    }
    Ok(true)
}

/// One step of a link's path.
enum Step {
    Name(OsString),
    Up,
    /// An absolute path: outside by definition.
    Out,
}

fn steps(path: &Path) -> VecDeque<Step> {
    path.components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(Step::Name(name.to_os_string())),
            Component::CurDir => None,
            Component::ParentDir => Some(Step::Up),
            Component::RootDir | Component::Prefix(_) => Some(Step::Out),
        })
        .collect()
}

fn names(path: &Path) -> Vec<OsString> {
    path.iter().map(OsStr::to_os_string).collect()
}

/// Whether a link at `rel` with the text `to` stays inside the root, by its text alone.
fn lexically_inside(rel: &Path, to: &Path) -> bool {
    let mut depth = rel.components().count().saturating_sub(1);
    for step in steps(to) {
        match step {
            Step::Name(_) => depth += 1,
            Step::Up if depth == 0 => return false,
            Step::Up => depth -= 1,
            Step::Out => return false,
        }
    }
    !to.as_os_str().is_empty()
}

#[cfg(unix)]
fn symlink(to: &Path, at: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(to, at)
}

#[cfg(not(unix))]
fn symlink(_: &Path, _: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "symbolic links are restored on Unix only",
    ))
}

/// The archived mode of a file, less the set-user-ID and set-group-ID bits: a restore never
/// makes a program that runs with someone else's rights.
fn set_file_mode(file: &File, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    return file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode & 0o1777));
    #[cfg(not(unix))]
    {
        let mut permissions = file.metadata()?.permissions();
        permissions.set_readonly(mode & 0o200 == 0);
        file.set_permissions(permissions)
    }
}

/// The archived mode of a directory, less the set-user-ID bit (set-group-ID on a directory only
/// makes new files inherit its group).
fn set_dir_mode(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    let result = fs::set_permissions(
        path,
        std::os::unix::fs::PermissionsExt::from_mode(mode & 0o3777),
    );
    #[cfg(not(unix))]
    let result = {
        let _ = mode;
        Ok(())
    };
    result.map_err(|err| {
        context(
            err,
            format_args!("cannot set the mode of {}", path.display()),
        )
    })
}

fn invalid_input(message: std::fmt::Arguments<'_>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message.to_string())
}

/// Deletes all but the newest `n` backups (`backup-*.tar.gz` files as [`backup`] names them) in
/// `dest_dir`, and returns the paths it deleted, oldest first. Other files are never touched.
///
/// Newest means latest in the name: the time of the backup, then the `-1`, `-2` suffix of backups
/// made in the same second. The work runs on tokio's blocking thread pool.
///
/// # Errors
///
/// Any I/O error listing `dest_dir` or deleting a file, naming the path; the backups deleted
/// before the error stay deleted.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// # let tmp = std::env::temp_dir().join(format!("resilient-doc-keep-{}", std::process::id()));
/// # std::fs::create_dir_all(&tmp)?;
/// let backups = tmp.join("backups");
/// std::fs::create_dir_all(&backups)?;
/// let state = tmp.join("state.json");
/// std::fs::write(&state, "{}")?;
/// for _ in 0..3 {
///     resilient::fs::backup(&state, &backups).await?;
/// }
/// let removed = resilient::fs::keep_newest(&backups, 1).await?;
/// assert_eq!(removed.len(), 2);
/// assert_eq!(std::fs::read_dir(&backups)?.count(), 1);
/// # std::fs::remove_dir_all(&tmp)?;
/// # Ok(()) }
/// ```
pub async fn keep_newest(dest_dir: impl AsRef<Path>, n: usize) -> io::Result<Vec<PathBuf>> {
    let dest_dir = dest_dir.as_ref().to_path_buf();
    run_blocking(move || keep_newest_blocking(&dest_dir, n)).await
}

fn keep_newest_blocking(dest_dir: &Path, n: usize) -> io::Result<Vec<PathBuf>> {
    let fail = |err| context(err, format_args!("cannot list {}", dest_dir.display()));
    let mut found = Vec::new();
    for entry in fs::read_dir(dest_dir).map_err(fail)? {
        let entry = entry.map_err(fail)?;
        let Some(age) = entry.file_name().to_str().and_then(backup_age) else {
            continue;
        };
        if entry.file_type().map_err(fail)?.is_file() {
            found.push((age, entry.path()));
        }
    }
    found.sort_unstable();
    let excess = found.len().saturating_sub(n);
    let mut removed = Vec::with_capacity(excess);
    for (_, path) in found.into_iter().take(excess) {
        fs::remove_file(&path)
            .map_err(|err| context(err, format_args!("cannot remove {}", path.display())))?;
        removed.push(path);
    }
    if !removed.is_empty() {
        sync_dir(dest_dir)
            .map_err(|err| context(err, format_args!("cannot sync {}", dest_dir.display())))?;
    }
    Ok(removed)
}

/// For a name `backup-YYYYMMDD-HHMMSS[-N].tar.gz`: `(YYYYMMDDHHMMSS, N)`, which orders backups
/// oldest first; `None` for any other name.
fn backup_age(name: &str) -> Option<(u64, u32)> {
    let rest = name.strip_prefix("backup-")?.strip_suffix(".tar.gz")?;
    let (date, rest) = rest.split_at_checked(8)?;
    let (time, rest) = rest.strip_prefix('-')?.split_at_checked(6)?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(date) || !digits(time) {
        return None;
    }
    let n = match rest {
        "" => 0,
        rest => {
            let n = rest.strip_prefix('-')?;
            if !digits(n) || n.starts_with('0') {
                return None;
            }
            n.parse().ok()?
        }
    };
    Some((format!("{date}{time}").parse().ok()?, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(2_932_896), (9999, 12, 31));
    }

    #[test]
    fn stamps_are_utc() {
        // 2024-02-29 23:59:58 UTC
        let at = UNIX_EPOCH + Duration::from_secs(1_709_251_198);
        assert_eq!(utc_stamp(at).unwrap(), "20240229-235958");
        assert_eq!(utc_stamp(UNIX_EPOCH).unwrap(), "19700101-000000");
    }

    #[test]
    fn backup_names_order_oldest_first() {
        let mut names = [
            "backup-20240101-000000-10.tar.gz",
            "backup-20240101-000000.tar.gz",
            "backup-20231231-235959.tar.gz",
            "backup-20240101-000000-2.tar.gz",
        ];
        names.sort_by_key(|name| backup_age(name).unwrap());
        assert_eq!(
            names,
            [
                "backup-20231231-235959.tar.gz",
                "backup-20240101-000000.tar.gz",
                "backup-20240101-000000-2.tar.gz",
                "backup-20240101-000000-10.tar.gz",
            ]
        );
        for other in [
            "backup-2024010-000000.tar.gz",
            "backup-20240101-000000.tar",
            "backup-20240101-000000-.tar.gz",
            "backup-20240101-000000-01.tar.gz",
            ".backup-20240101-000000.tar.gz.0123456789abcdef.tmp",
            "backup-20240101-00000a.tar.gz",
            "notes.txt",
        ] {
            assert_eq!(backup_age(other), None, "{other}");
        }
    }

    #[test]
    fn link_text_inside_or_not() {
        assert!(lexically_inside(Path::new("a"), Path::new("b")));
        assert!(lexically_inside(Path::new("d/a"), Path::new("../b")));
        assert!(lexically_inside(Path::new("d/a"), Path::new("./x/../../b")));
        assert!(!lexically_inside(Path::new("a"), Path::new("../b")));
        assert!(!lexically_inside(Path::new("d/a"), Path::new("../../b")));
        assert!(!lexically_inside(Path::new("a"), Path::new("/etc/passwd")));
        assert!(!lexically_inside(Path::new("a"), Path::new("")));
    }

    #[test]
    fn a_backup_name_is_digits_only() {
        // `u64` parsing alone would take a leading `+`.
        for other in [
            "backup-+2024010-000000.tar.gz",
            "backup-20240101-+00000.tar.gz",
        ] {
            assert_eq!(backup_age(other), None, "{other}");
        }
    }

    /// Links as `resolves_inside` sees them: `name -> text`, relative to the root.
    fn links(table: &[(&str, &str)]) -> impl Fn(&Path) -> io::Result<Option<PathBuf>> + use<> {
        let table: Vec<(PathBuf, PathBuf)> = table
            .iter()
            .map(|(at, to)| (PathBuf::from(at), PathBuf::from(to)))
            .collect();
        move |path| {
            let found = table.iter().find(|(at, _)| at == path);
            Ok(found.map(|(_, to)| to.clone()))
        }
    }

    #[test]
    fn a_cycle_of_links_is_not_inside() {
        let cycle = links(&[("a", "b"), ("b", "a")]);
        assert!(!resolves_inside(Path::new("x"), Path::new("a"), cycle).unwrap());
    }

    #[test]
    fn a_chain_of_links_resolves_up_to_the_hop_limit() {
        // `l0 -> l1 -> ... -> l{n}`, the last one naming a plain entry.
        let chain = |n: u32| {
            let table: Vec<(String, String)> = (0..n)
                .map(|i| (format!("l{i}"), format!("l{}", i + 1)))
                .collect();
            let table: Vec<(&str, &str)> = table
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            links(&table)
        };
        let from = Path::new("x");
        assert!(resolves_inside(from, Path::new("l0"), chain(MAX_HOPS)).unwrap());
        assert!(!resolves_inside(from, Path::new("l0"), chain(MAX_HOPS + 1)).unwrap());
    }

    #[test]
    fn removing_old_backups_syncs_the_directory_and_reports_its_failure() {
        let dir = std::env::temp_dir().join(format!(
            "resilient-keep-newest-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        fs::create_dir_all(&dir).unwrap();
        for name in [
            "backup-20240101-000000.tar.gz",
            "backup-20240102-000000.tar.gz",
        ] {
            fs::write(dir.join(name), "x").unwrap();
        }
        // Nothing to remove: no sync, so the failure stays armed for the next one.
        super::super::probe::fail_next_sync(&dir);
        assert_eq!(
            keep_newest_blocking(&dir, 2).unwrap(),
            Vec::<PathBuf>::new()
        );
        let err = keep_newest_blocking(&dir, 1).unwrap_err();
        assert!(err.to_string().contains("cannot sync"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
