//! File-system side of the vault behind a small trait, so tests can run the vault on a
//! simulated disk that tears writes, fails with ENOSPC/EIO and crashes (`sim.rs`).
//!
//! Implements FORMAT.md "Write procedures" and "Locking": durable appends (`write` +
//! `fdatasync`), durable truncation, and the atomic replace (new temp file with `create_new`,
//! mode 0600 → `write_all` → `sync_all` → `rename` over the vault → fsync the directory), so the
//! previous file is intact until the rename and the new one is durable after it.

use std::any::Any;
use std::ffi::OsString;
use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::Error;

/// Mode of every file the vault creates (vault, temp, lock).
const FILE_MODE: u32 = 0o600;
/// Mode of a data directory the vault creates.
const DIR_MODE: u32 = 0o700;

/// Holds a vault's lock until dropped.
pub(crate) type LockGuard = Box<dyn Any + Send + Sync>;

/// The file operations the vault needs. Each `*_durable` call returns only once its effect
/// survives a power loss (except for the directory entry: see [`Storage::sync_dir`]).
pub(crate) trait Storage: Send + Sync {
    /// Takes the exclusive, non-blocking lock that makes us the only writer of `path`.
    fn lock(&self, path: &Path) -> Result<LockGuard, Error>;
    /// Whether anything exists at `path`.
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Creates the parent directory of `path` (mode 0700) if missing.
    fn ensure_parent_dir(&self, path: &Path) -> io::Result<()>;
    /// The whole file; `NotFound(path)` if absent, `Malformed` if larger than `max`.
    fn read(&self, path: &Path, max: u64) -> Result<Zeroizing<Vec<u8>>, Error>;
    /// At most the first `len` bytes of the file (the header); `NotFound(path)` if absent.
    fn read_prefix(&self, path: &Path, len: usize) -> Result<Vec<u8>, Error>;
    /// Appends `bytes` at the end of the existing file, then `fdatasync`.
    fn append_durable(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
    /// Cuts the file to `len` bytes, then `fsync`.
    fn truncate_durable(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Creates a new file (`create_new`, mode 0600) holding `bytes`, then `fsync`.
    fn write_new_durable(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
    /// Atomically renames `from` over `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes `path`; a missing file is not an error.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// fsyncs the directory holding `path`, making renames and new entries in it durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
}

/// `<vault path><suffix>`, e.g. `softkey.vault.lock`: a sibling in the same directory.
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(suffix);
    PathBuf::from(s)
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// How far an atomic replace got before it failed.
#[derive(Debug)]
pub(crate) enum ReplaceError {
    /// The old file is still in place.
    BeforeRename(io::Error),
    /// The new file is in place but its directory entry may not be durable yet.
    AfterRename(io::Error),
}

/// Atomically replaces `path` with `bytes` (FORMAT.md "Write procedures"). The caller holds the
/// lock, so a stale temp file left by a crash can be removed safely.
pub(crate) fn replace(
    storage: &dyn Storage,
    path: &Path,
    bytes: &[u8],
) -> Result<(), ReplaceError> {
    let tmp = sibling(path, ".tmp");
    storage.remove(&tmp).map_err(ReplaceError::BeforeRename)?;
    let written = storage
        .write_new_durable(&tmp, bytes)
        .and_then(|()| storage.rename(&tmp, path));
    if let Err(e) = written {
        // Best effort: the old vault is untouched, only the temp file may remain.
        let _ = storage.remove(&tmp);
        return Err(ReplaceError::BeforeRename(e));
    }
    storage.sync_dir(path).map_err(ReplaceError::AfterRename)
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FsStorage;

impl Storage for FsStorage {
    fn lock(&self, path: &Path) -> Result<LockGuard, Error> {
        // On a sibling: every compaction renames a new inode over the vault itself. flock locks
        // belong to the open file description, so a second open in one process is refused too.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(sibling(path, ".lock"))?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(file)),
            Err(TryLockError::WouldBlock) => Err(Error::Locked),
            Err(TryLockError::Error(e)) => Err(Error::Io(e)),
        }
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        match fs::symlink_metadata(path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn ensure_parent_dir(&self, path: &Path) -> io::Result<()> {
        let dir = parent_dir(path);
        if dir.is_dir() {
            return Ok(());
        }
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)?;
        // Make the new directory entry itself durable.
        File::open(parent_dir(dir))?.sync_all()
    }

    fn read(&self, path: &Path, max: u64) -> Result<Zeroizing<Vec<u8>>, Error> {
        let file = File::open(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NotFound(path.to_path_buf()),
            _ => Error::Io(e),
        })?;
        let len = file.metadata()?.len();
        if len > max {
            return Err(Error::Malformed("file larger than any vault can be"));
        }
        // Sized up front: one allocation, and `take` bounds a file that grows meanwhile.
        let mut bytes = Zeroizing::new(Vec::with_capacity(usize::try_from(len).unwrap_or(0)));
        file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > max {
            return Err(Error::Malformed("file larger than any vault can be"));
        }
        Ok(bytes)
    }

    fn read_prefix(&self, path: &Path, len: usize) -> Result<Vec<u8>, Error> {
        let file = File::open(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NotFound(path.to_path_buf()),
            _ => Error::Io(e),
        })?;
        let mut bytes = Vec::with_capacity(len);
        file.take(len as u64).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn append_durable(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut file = OpenOptions::new().append(true).open(path)?;
        file.write_all(bytes)?;
        file.sync_data()
    }

    fn truncate_durable(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_all()
    }

    fn write_new_durable(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(path)?;
        file.write_all(bytes)?;
        file.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(parent_dir(path))?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn sibling_and_parent() {
        assert_eq!(
            sibling(Path::new("/a/b.vault"), ".lock"),
            PathBuf::from("/a/b.vault.lock")
        );
        assert_eq!(parent_dir(Path::new("x")), Path::new("."));
        assert_eq!(parent_dir(Path::new("/d/x")), Path::new("/d"));
    }

    #[test]
    fn replace_append_truncate_on_real_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        fs::write(sibling(&path, ".tmp"), b"stale from a crash").unwrap();
        replace(&FsStorage, &path, b"one").unwrap();
        FsStorage.append_durable(&path, b"+two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one+two");
        FsStorage.truncate_durable(&path, 4).unwrap();
        assert_eq!(*FsStorage.read(&path, 4).unwrap(), b"one+");
        assert!(matches!(FsStorage.read(&path, 3), Err(Error::Malformed(_))));
        assert!(!sibling(&path, ".tmp").exists());
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let missing = dir.path().join("missing");
        assert!(matches!(FsStorage.read(&missing, 9), Err(Error::NotFound(p)) if p == missing));
        assert!(
            FsStorage.append_durable(&missing, b"x").is_err(),
            "append never creates"
        );
    }

    #[test]
    fn lock_is_exclusive_even_within_one_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        let held = FsStorage.lock(&path).unwrap();
        assert!(matches!(FsStorage.lock(&path), Err(Error::Locked)));
        drop(held);
        let _again = FsStorage.lock(&path).unwrap();
        let mode = fs::metadata(sibling(&path, ".lock"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn ensure_parent_dir_creates_0700() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/v");
        FsStorage.ensure_parent_dir(&path).unwrap();
        let mode = fs::metadata(dir.path().join("a/b"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700);
        FsStorage.ensure_parent_dir(&path).unwrap();
    }
}
