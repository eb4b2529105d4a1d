//! Writing a backup file: never half-written, never world-readable, and
//! never over an existing file unless asked.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Writes `bytes` to `path` with mode 0600: temp file, `sync_all`, then a
/// hard link (fails if `path` exists) or, with `overwrite`, a rename; then
/// the directory is fsynced so the new name survives a power loss.
pub fn write_new_file(path: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    check_target(path, overwrite)?;
    let temp = temp_path(path);
    let _ = fs::remove_file(&temp);
    let result = write_temp(&temp, bytes).and_then(|()| {
        if overwrite {
            fs::rename(&temp, path).with_context(|| format!("cannot replace {}", path.display()))
        } else {
            fs::hard_link(&temp, path).with_context(|| format!("cannot create {}", path.display()))
        }
    });
    let _ = fs::remove_file(&temp);
    result?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync directory {}", dir.display()))
}

/// Whether [`write_new_file`] can write `path`, checked before any
/// passphrase is asked: not there yet (unless `overwrite`), not a
/// directory, and in a directory that exists.
pub fn check_target(path: &Path, overwrite: bool) -> Result<()> {
    if path.is_dir() {
        bail!("{} is a directory; name the backup file", path.display());
    }
    if !overwrite && fs::symlink_metadata(path).is_ok() {
        bail!(
            "{} already exists; choose another file or pass --force to replace it",
            path.display()
        );
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        bail!(
            "cannot write {}: the directory {} does not exist",
            path.display(),
            dir.display()
        );
    }
    Ok(())
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

fn write_temp(temp: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp)
        .with_context(|| format!("cannot create {}", temp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", temp.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn creates_0600_and_refuses_to_overwrite_unless_forced() {
        let dir = std::env::temp_dir().join(format!("softkey-file-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("backup");
        let _ = fs::remove_file(&path);
        write_new_file(&path, b"one", false).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let error = write_new_file(&path, b"two", false).unwrap_err();
        assert!(error.to_string().contains("--force"), "{error}");
        assert_eq!(fs::read(&path).unwrap(), b"one");
        write_new_file(&path, b"two", true).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert!(!temp_path(&path).exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
