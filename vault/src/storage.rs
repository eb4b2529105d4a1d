//! File-system side of the vault: the lock file, bounded reads and the atomic replace.
//!
//! Implements FORMAT.md "Write procedure" and "Locking": new temp file (`create_new`, mode 0600)
//! → `write_all` → `sync_all` → `rename` over the vault → fsync the directory, so the previous
//! file is intact until the rename and the new one is durable after it. A test can inject a
//! failure or a torn write at each step ([`Fault`]).

use std::ffi::OsString;
use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::Error;

/// Mode of every file the vault creates (vault, temp, lock).
const FILE_MODE: u32 = 0o600;
/// Mode of a data directory the vault creates.
const DIR_MODE: u32 = 0o700;

/// A simulated failure at one step of [`replace`] (tests only; production passes `None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Creating the temp file fails.
    CreateTemp,
    /// Only the first `n` bytes reach the temp file, then the disk is full.
    #[cfg_attr(not(test), expect(dead_code, reason = "only tests tear writes"))]
    TornWrite(usize),
    /// `sync_all` of the temp file fails (EIO).
    SyncTemp,
    /// The rename fails; the old vault must still be in place.
    Rename,
    /// The rename happened but the directory fsync fails.
    SyncDir,
}

fn injected(at: Option<Fault>, step: Fault) -> io::Result<()> {
    if at == Some(step) {
        Err(io::Error::other("injected I/O failure"))
    } else {
        Ok(())
    }
}

/// `<vault path><suffix>`, e.g. `softkey.vault.lock`: a sibling in the same directory.
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(suffix);
    PathBuf::from(s)
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Creates the vault's directory with mode 0700 if it is missing (missing ancestors too).
pub(crate) fn ensure_parent_dir(path: &Path) -> Result<(), Error> {
    let dir = parent_dir(path);
    if dir.is_dir() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    // Make the new directory entry itself durable.
    sync_dir(parent_dir(dir))?;
    Ok(())
}

/// Takes the exclusive lock on `<vault>.lock`, held until the returned file is dropped.
///
/// The lock is on a sibling because every write renames a new inode over the vault itself.
/// `flock` locks belong to the open file description, so a second open in the same process is
/// refused too.
pub(crate) fn lock(path: &Path) -> Result<File, Error> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(sibling(path, ".lock"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(Error::Locked),
        Err(TryLockError::Error(e)) => Err(Error::Io(e)),
    }
}

/// Whether anything (file, directory, dangling symlink) exists at `path`.
pub(crate) fn exists(path: &Path) -> Result<bool, Error> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::Io(e)),
    }
}

/// Reads the whole vault, refusing files larger than `max` without reading them in.
pub(crate) fn read_bounded(path: &Path, max: usize) -> Result<Vec<u8>, Error> {
    let file = File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::NotFound(path.to_path_buf()),
        _ => Error::Io(e),
    })?;
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes)?;
    if bytes.len() > max {
        return Err(Error::Malformed("file larger than any vault can be"));
    }
    Ok(bytes)
}

/// Atomically replaces `path` with `bytes` (FORMAT.md "Write procedure").
///
/// The caller must hold the lock: it makes us the only writer, so a stale temp file left by a
/// crash can be removed safely.
pub(crate) fn replace(path: &Path, bytes: &[u8], fault: Option<Fault>) -> Result<(), Error> {
    let tmp = sibling(path, ".tmp");
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::Io(e)),
    }
    injected(fault, Fault::CreateTemp)?;
    let result = write_temp(&tmp, bytes, fault).and_then(|()| {
        injected(fault, Fault::Rename)?;
        fs::rename(&tmp, path)
    });
    if let Err(e) = result {
        // Best effort: the old vault is untouched, only the temp file may remain.
        let _ = fs::remove_file(&tmp);
        return Err(Error::Io(e));
    }
    injected(fault, Fault::SyncDir)?;
    sync_dir(parent_dir(path))?;
    Ok(())
}

/// Steps 1–3: `create_new` with mode 0600, write everything, `sync_all`.
fn write_temp(tmp: &Path, bytes: &[u8], fault: Option<Fault>) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(tmp)?;
    if let Some(Fault::TornWrite(n)) = fault {
        file.write_all(bytes.get(..n).unwrap_or(bytes))?;
        return Err(io::Error::from(io::ErrorKind::StorageFull));
    }
    file.write_all(bytes)?;
    injected(fault, Fault::SyncTemp)?;
    file.sync_all()
}

/// fsync a directory so a rename or a new entry in it survives a power loss.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn sibling_appends_a_suffix() {
        assert_eq!(
            sibling(Path::new("/a/b.vault"), ".lock"),
            PathBuf::from("/a/b.vault.lock")
        );
        assert_eq!(parent_dir(Path::new("x")), Path::new("."));
        assert_eq!(parent_dir(Path::new("/d/x")), Path::new("/d"));
    }

    #[test]
    fn replace_writes_0600_and_removes_stale_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        fs::write(sibling(&path, ".tmp"), b"stale from a crash").unwrap();
        replace(&path, b"one", None).unwrap();
        replace(&path, b"two", None).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert!(!sibling(&path, ".tmp").exists());
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn every_fault_before_the_rename_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        replace(&path, b"old contents", None).unwrap();
        let faults = [
            Fault::CreateTemp,
            Fault::TornWrite(0),
            Fault::TornWrite(5),
            Fault::SyncTemp,
            Fault::Rename,
        ];
        for fault in faults {
            let r = replace(&path, b"new contents", Some(fault));
            assert!(matches!(r, Err(Error::Io(_))), "{fault:?}");
            assert_eq!(fs::read(&path).unwrap(), b"old contents", "{fault:?}");
            assert!(!sibling(&path, ".tmp").exists(), "{fault:?}");
        }
        // After the rename the new file is in place even though the call reports the failure.
        assert!(replace(&path, b"new contents", Some(Fault::SyncDir)).is_err());
        assert_eq!(fs::read(&path).unwrap(), b"new contents");
    }

    #[test]
    fn lock_is_exclusive_even_within_one_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        let held = lock(&path).unwrap();
        assert!(matches!(lock(&path), Err(Error::Locked)));
        drop(held);
        let again = lock(&path).unwrap();
        let mode = again.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn ensure_parent_dir_creates_0700() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/v");
        ensure_parent_dir(&path).unwrap();
        let mode = fs::metadata(dir.path().join("a/b"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700);
        ensure_parent_dir(&path).unwrap();
    }

    #[test]
    fn read_bounded_refuses_oversized_and_maps_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        assert!(matches!(read_bounded(&path, 10), Err(Error::NotFound(p)) if p == path));
        fs::write(&path, [0u8; 11]).unwrap();
        assert!(matches!(read_bounded(&path, 10), Err(Error::Malformed(_))));
        assert_eq!(read_bounded(&path, 11).unwrap().len(), 11);
    }
}
