//! The oracle of a restore over a target with prior content, shared by the `fuzz_restore`
//! property test and the `restore` fuzz target (`fuzz/`): what may change, and into
//! what.

use flate2::read::GzDecoder;
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Component, Path, PathBuf};

/// One restore: a directory holding the target (with prior content), an `outside` neighbour and
/// the archive; the trees seen before the restore.
pub(crate) struct Case {
    harness: PathBuf,
    dir: PathBuf,
    before: Option<(BTreeMap<PathBuf, Node>, BTreeMap<PathBuf, Node>)>,
}

impl Case {
    /// Case `n` in `harness`, the directory whose content, but for the target, must not change.
    pub(crate) fn new(harness: &Path, n: usize) -> Self {
        let dir = harness.join(format!("case-{n}"));
        let _ = fs::remove_dir_all(&dir);
        let target = dir.join("target");
        fs::create_dir_all(target.join("d")).unwrap();
        fs::write(target.join("a"), "old a").unwrap();
        fs::write(target.join("d/b"), "old b").unwrap();
        symlink("a", target.join("link")).unwrap();
        fs::create_dir_all(dir.join("outside/d")).unwrap();
        fs::write(dir.join("outside/a"), "outside").unwrap();
        Case {
            harness: harness.to_path_buf(),
            dir,
            before: None,
        }
    }

    pub(crate) fn target(&self) -> PathBuf {
        self.dir.join("target")
    }

    pub(crate) fn outside(&self) -> PathBuf {
        self.dir.join("outside")
    }

    pub(crate) fn archive(&self) -> PathBuf {
        self.dir.join("archive.tar.gz")
    }

    /// Writes the archive, and notes what the target and what is around it hold.
    pub(crate) fn with_archive(mut self, bytes: Vec<u8>) -> Self {
        fs::write(self.archive(), &bytes).unwrap();
        self.before = Some((snapshot(&self.target()), self.around()));
        self
    }

    /// Everything in the harness but the target.
    fn around(&self) -> BTreeMap<PathBuf, Node> {
        let target = self.target();
        let target = target.strip_prefix(&self.harness).unwrap();
        let mut all = snapshot(&self.harness);
        all.retain(|path, _| !path.starts_with(target));
        all
    }

    /// Checks what the restore that returned `restored` left, and removes the case if it holds.
    pub(crate) fn verify(self, restored: &io::Result<()>) -> Result<(), String> {
        let (old, around) = self.before.as_ref().expect("no archive written");
        if self.around() != *around {
            return Err("changed outside the target".to_owned());
        }
        let target = self.target();
        let now = snapshot(&target);
        match restored {
            Err(err) if now != *old => {
                return Err(format!(
                    "a failed restore ({err}) changed the target: {now:?}"
                ));
            }
            Err(_) => {}
            Ok(()) => {
                let bytes = fs::read(self.archive()).unwrap();
                let Some(expected) = expected_tree(&bytes) else {
                    return Err("restored an archive no restore may accept".to_owned());
                };
                if now != expected {
                    return Err(format!("restored {now:?}, the archive holds {expected:?}"));
                }
                if !links_stay_inside(&target, &now) {
                    return Err(format!("a link leads out: {now:?}"));
                }
            }
        }
        fs::remove_dir_all(&self.dir).unwrap();
        Ok(())
    }
}

/// What a tree holds: kinds, file contents, link texts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir,
    File(Vec<u8>),
    Link(PathBuf),
}

/// Everything under `root` (`""` for `root` itself), making every directory and file readable
/// by its owner first: a restored mode may forbid it.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut tree = BTreeMap::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        let path = root.join(&rel);
        let meta = fs::symlink_metadata(&path).unwrap();
        let node = if meta.file_type().is_symlink() {
            Node::Link(fs::read_link(&path).unwrap())
        } else if meta.is_dir() {
            let mode = meta.permissions().mode();
            fs::set_permissions(&path, fs::Permissions::from_mode(mode | 0o700)).unwrap();
            for entry in fs::read_dir(&path).unwrap() {
                todo.push(rel.join(entry.unwrap().file_name()));
            }
            Node::Dir
        } else {
            let mode = meta.permissions().mode();
            assert_eq!(mode & 0o6000, 0, "{}: set-ID bits restored", path.display());
            fs::set_permissions(&path, fs::Permissions::from_mode(mode | 0o600)).unwrap();
            Node::File(fs::read(&path).unwrap())
        };
        tree.insert(rel, node);
    }
    tree
}

/// What a restore that accepts `archive` must leave, read with the `tar` crate as a plain
/// unpacker would; `None` if no restore may accept it (a path leaving the target, an entry
/// through a link or given twice, a special file, an unreadable archive, a single file where a
/// directory is).
fn expected_tree(archive: &[u8]) -> Option<BTreeMap<PathBuf, Node>> {
    let mut tree = BTreeMap::from([(PathBuf::new(), Node::Dir)]);
    let mut tar = tar::Archive::new(GzDecoder::new(archive));
    let mut count = 0;
    let mut single_file = false;
    for entry in tar.entries().ok()? {
        let mut entry = entry.ok()?;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            continue;
        }
        count += 1;
        let rel = inside(&entry.path().ok()?)?;
        if !kind.is_dir() {
            if rel.as_os_str().is_empty() {
                return None;
            }
            if tree.contains_key(&rel) {
                return None;
            }
        }
        // The directories above it, made as needed, never through a link or a file.
        for parent in rel.ancestors().skip(1) {
            match tree.get(parent) {
                Some(Node::Dir) => {}
                Some(_) => return None,
                None => {
                    tree.insert(parent.to_path_buf(), Node::Dir);
                }
            }
        }
        let node = if kind.is_dir() {
            match tree.get(&rel) {
                None | Some(Node::Dir) => Node::Dir,
                Some(_) => return None,
            }
        } else if kind.is_file() || kind.is_contiguous() || kind.is_gnu_sparse() {
            let mut content = Vec::new();
            entry.read_to_end(&mut content).ok()?;
            Node::File(content)
        } else if kind.is_symlink() {
            Node::Link(entry.link_name().ok()??.into_owned())
        } else if kind.is_hard_link() {
            let to = inside(&entry.link_name().ok()??)?;
            match tree.get(&to) {
                Some(Node::File(content)) => Node::File(content.clone()),
                _ => return None,
            }
        } else {
            return None;
        };
        single_file = count == 1 && matches!(node, Node::File(_)) && !kind.is_hard_link();
        tree.insert(rel, node);
    }
    (count > 0 && !single_file).then_some(tree)
}

/// `raw` as a path inside the target: its normal components; `None` if it leaves.
fn inside(raw: &Path) -> Option<PathBuf> {
    let mut rel = PathBuf::new();
    for component in raw.components() {
        match component {
            Component::Normal(name) => rel.push(name),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(rel)
}

/// Whether every symbolic link of `tree` (restored at `root`) that leads somewhere leads inside.
fn links_stay_inside(root: &Path, tree: &BTreeMap<PathBuf, Node>) -> bool {
    let root = fs::canonicalize(root).unwrap();
    tree.iter().all(|(rel, node)| match node {
        Node::Link(to) if to.is_absolute() => false,
        Node::Link(_) => {
            fs::canonicalize(root.join(rel)).map_or(true, |end| end.starts_with(&root))
        }
        _ => true,
    })
}
