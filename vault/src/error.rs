//! The one error type of the vault crate.
//!
//! Every failure to decrypt (wrong passphrase, flipped bit, tampered header) is the single opaque
//! [`Error::WrongPassphraseOrCorrupt`], so an attacker learns nothing from which check failed
//! (FORMAT.md, "Open and recovery"). Messages say what to do next and never contain secrets.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Everything that can go wrong when creating, opening or writing a vault.
#[derive(Debug)]
pub enum Error {
    /// The operating system refused a read, write, sync, rename or lock.
    Io(io::Error),
    /// A rewrite (compaction, passphrase change, key slot) is in place and the handle uses it,
    /// but the directory fsync after the rename failed: a crash before the next successful
    /// write may bring back the previous file (FORMAT.md "Atomic replace").
    NotDurable(io::Error),
    /// `create` found a file (or anything else) already at this path.
    AlreadyExists(PathBuf),
    /// `open` found no vault at this path.
    NotFound(PathBuf),
    /// The path names a directory, not a vault file.
    NotAFile(PathBuf),
    /// Another `Vault` (in this or another process) holds the vault's lock file.
    Locked,
    /// AES-GCM authentication failed: wrong passphrase, or the file was altered or damaged.
    WrongPassphraseOrCorrupt,
    /// The file does not start with the vault magic bytes.
    NotAVault,
    /// The file is a vault of a format version this build cannot read.
    UnsupportedVersion(u16),
    /// The KDF parameters are outside the accepted bounds (see [`crate::KdfParams::validate`]).
    KdfParamsOutOfBounds,
    /// The file ends before the structure its header announces.
    Truncated,
    /// Bytes follow the end of the encrypted body.
    TrailingData,
    /// A structural rule of the format is broken; the text names which.
    Malformed(&'static str),
    /// The passphrase was right but the records are damaged: a record in the log failed
    /// authentication, or authenticated records are inconsistent (out of sequence, reordered,
    /// spliced). The text names which. Restore from a backup.
    Corrupt(&'static str),
    /// The bytes given to `backup::open` do not start with the backup magic.
    NotABackup,
    /// The vault has no key slot of the kind asked for (FORMAT.md "Key slots").
    NoSuchSlot(crate::SlotKind),
    /// Removing this slot would leave no passphrase or recovery key: nobody could open the
    /// vault without this machine's TPM or keyring.
    LastSlotForAPerson,
    /// The header already holds the most slots it may.
    TooManySlots,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(
                f,
                "vault I/O error: {e}; check the disk space and the permissions of the vault \
                 directory (the last saved vault is unchanged)"
            ),
            Self::NotDurable(e) => write!(
                f,
                "the change is in place, but the vault directory could not be synced ({e}): \
                 a crash before the next write may bring back the previous vault file"
            ),
            Self::AlreadyExists(p) => write!(
                f,
                "a file already exists at {}; open it instead, or move it away to create a new vault",
                p.display()
            ),
            Self::NotFound(p) => write!(
                f,
                "no vault at {}; create one first or check the path",
                p.display()
            ),
            Self::NotAFile(p) => write!(
                f,
                "{} is a directory, not a vault file; name the vault file itself",
                p.display()
            ),
            Self::Locked => f.write_str(
                "the vault is in use by another softkey process; stop that process and try again",
            ),
            Self::WrongPassphraseOrCorrupt => f.write_str(
                "could not decrypt the vault: wrong passphrase, or the file is damaged; \
                 retry the passphrase, or restore the vault from a backup",
            ),
            Self::NoSuchSlot(kind) => write!(
                f,
                "this vault has no {} slot; `softkey slot list` shows the ones it has",
                slot_name(*kind)
            ),
            Self::LastSlotForAPerson => f.write_str(
                "refusing to remove the last passphrase or recovery-key slot: without one, \
                 nobody could open the vault on another machine or after a TPM or keyring \
                 is lost; add a recovery key first",
            ),
            Self::TooManySlots => write!(
                f,
                "the vault already has {} key slots; remove one first",
                crate::slots::MAX_SLOTS
            ),
            Self::NotAVault => {
                f.write_str("this file is not a softkey vault (bad magic bytes); check the path")
            }
            Self::UnsupportedVersion(v) => write!(
                f,
                "vault format version {v} is not supported by this softkey build; \
                 upgrade softkey to open it"
            ),
            Self::KdfParamsOutOfBounds => f.write_str(
                "the vault's key-derivation parameters are out of the accepted bounds; \
                 the file is damaged or was not written by softkey",
            ),
            Self::Truncated => f.write_str("the vault file is truncated; restore it from a backup"),
            Self::TrailingData => f.write_str(
                "the vault file has unexpected data after its end; restore it from a backup",
            ),
            Self::Malformed(what) => write!(
                f,
                "the vault file is malformed ({what}); restore it from a backup"
            ),
            Self::Corrupt(what) => write!(
                f,
                "the vault is damaged ({what}); the passphrase is right, but the records \
                 cannot be trusted: restore the vault from a backup"
            ),
            Self::NotABackup => {
                f.write_str("this file is not a softkey backup (bad magic bytes); check the path")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) | Self::NotDurable(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// How the messages name a slot kind: the names `softkey slot` takes.
fn slot_name(kind: crate::SlotKind) -> String {
    match kind {
        crate::SlotKind::Passphrase => "passphrase".into(),
        crate::SlotKind::RecoveryKey => "recovery-key".into(),
        crate::SlotKind::Tpm2 => "tpm".into(),
        crate::SlotKind::SecretService => "keyring (Secret Service)".into(),
        crate::SlotKind::Unknown(code) => format!("kind-{code}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_passphrase_message_is_actionable() {
        let msg = Error::WrongPassphraseOrCorrupt.to_string();
        assert!(
            msg.starts_with(
                "could not decrypt the vault: wrong passphrase, or the file is damaged"
            )
        );
    }

    #[test]
    fn io_error_is_the_source() {
        let e = Error::from(io::Error::other("disk on fire"));
        assert!(std::error::Error::source(&e).is_some());
        assert!(e.to_string().contains("disk on fire"));
        assert!(std::error::Error::source(&Error::Locked).is_none());
    }

    #[test]
    fn corrupt_names_the_problem_and_the_remedy() {
        let msg = Error::Corrupt("records are out of sequence").to_string();
        assert!(
            msg.contains("out of sequence") && msg.contains("restore"),
            "{msg}"
        );
        assert!(
            Error::NotABackup
                .to_string()
                .contains("not a softkey backup")
        );
    }
}
