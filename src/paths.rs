//! Where files and sockets live by default (XDG Base Directory
//! specification), and who we are: a leaf every part may use.

use std::env;
use std::path::PathBuf;

use anyhow::{Error, bail};

/// `$XDG_DATA_HOME/softkey/vault.softkey`, falling back to
/// `~/.local/share/softkey/vault.softkey`.
pub fn default_vault_path() -> Result<PathBuf, Error> {
    if let Some(dir) = env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        // The spec says relative values are invalid and must be ignored.
        if dir.is_absolute() {
            return Ok(dir.join("softkey").join("vault.softkey"));
        }
    }
    match env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/softkey/vault.softkey")),
        None => bail!(
            "cannot find a place for the vault: set HOME or XDG_DATA_HOME, or pass --vault PATH"
        ),
    }
}

/// `$XDG_RUNTIME_DIR/softkey`, else `/tmp/softkey-$UID`: where every
/// `serve` of this user puts its socket, and where clients look.
pub fn socket_dir() -> PathBuf {
    // XDG Base Directory: relative values are invalid and must be ignored.
    let runtime = env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute());
    match runtime {
        Some(dir) => dir.join("softkey"),
        None => PathBuf::from(format!("/tmp/softkey-{}", current_uid())),
    }
}

/// The real uid of this process: who owns our sockets and may talk to them.
pub fn current_uid() -> u32 {
    rustix::process::getuid().as_raw()
}
