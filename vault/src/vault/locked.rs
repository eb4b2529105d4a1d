//! [`LockedVault`]: a vault file held for this process before its passphrase
//! is known.
//!
//! Everything that can fail without the passphrase fails here: no file, a
//! directory, another process holding the lock, a header that is not a
//! vault's or names a KDF cost out of bounds. A command asks for the
//! passphrase only after [`Vault::lock`] succeeded, and a wrong passphrase
//! leaves the lock held so the caller can ask again.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use zeroize::Zeroizing;

use crate::Error;
use crate::header::{self, FORMAT_VERSION_PASSPHRASE, FORMAT_VERSION_V1, Header};
use crate::kdf::{self, KdfParams, Kek};
use crate::replay;
use crate::seal::DataKey;
use crate::slots::{Lock, SlotInfo, SlotKind};
use crate::storage::{FsStorage, LockGuard, Storage};
use crate::v1;

use super::{MAX_FILE_LEN, Vault};

/// A vault file locked against other softkey processes, not yet unlocked.
pub struct LockedVault {
    path: PathBuf,
    slots: Vec<SlotInfo>,
    /// Moved into the [`Vault`] by a successful unlock.
    held: Option<(Box<dyn Storage>, LockGuard)>,
}

impl fmt::Debug for LockedVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds: Vec<SlotKind> = self.slots.iter().map(|s| s.kind).collect();
        f.debug_struct("LockedVault")
            .field("path", &self.path)
            .field("slots", &kinds)
            .field("unlocked", &self.held.is_none())
            .finish()
    }
}

impl Vault {
    /// Takes the vault's lock and checks its header, without the passphrase:
    /// [`Error::NotFound`], [`Error::NotAFile`], [`Error::Locked`] and the
    /// header errors come from here, before anyone is asked to type anything.
    pub fn lock(path: &Path) -> Result<LockedVault, Error> {
        if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            return Err(Error::NotAFile(path.to_path_buf()));
        }
        LockedVault::lock_in(Box::new(FsStorage), path)
    }
}

impl LockedVault {
    pub(crate) fn lock_in(storage: Box<dyn Storage>, path: &Path) -> Result<Self, Error> {
        // Checked first so that opening a wrong path leaves no lock file behind.
        if !storage.exists(path)? {
            return Err(Error::NotFound(path.to_path_buf()));
        }
        let lock = storage.lock(path)?;
        let bytes = storage.read_prefix(path, header::MAX_HEADER_LEN)?;
        // Every slot's KDF bounds are checked here, before anyone runs the KDF.
        let slots = header::slots_of(&bytes)?;
        Ok(Self {
            path: path.to_path_buf(),
            slots,
            held: Some((storage, lock)),
        })
    }

    /// The vault file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The Argon2id cost of the passphrase slot (else of the recovery-key slot): what an
    /// unlock with typed text will spend.
    pub fn kdf_params(&self) -> KdfParams {
        header::kdf_params_of_infos(&self.slots)
    }

    /// The key slots in the header (FORMAT.md "Key slots").
    pub fn slots(&self) -> &[SlotInfo] {
        &self.slots
    }

    /// Derives the key from `passphrase`, verifies and replays the vault. On
    /// [`Error::WrongPassphraseOrCorrupt`] the lock stays held: call again
    /// with another passphrase. After a success there is nothing left to
    /// unlock ([`Error::Locked`]).
    pub fn unlock(&mut self, passphrase: &[u8]) -> Result<Vault, Error> {
        self.unlock_typed(SlotKind::Passphrase, passphrase)
    }

    /// As [`LockedVault::unlock`], with the recovery key's text through the recovery-key slot.
    pub fn unlock_with_recovery_key(&mut self, key: &[u8]) -> Result<Vault, Error> {
        self.unlock_typed(SlotKind::RecoveryKey, key)
    }

    /// Unlocks through sealed slot `index` with the KEK its TPM or keyring released.
    pub fn unlock_sealed(&mut self, index: usize, kek: &[u8; 32]) -> Result<Vault, Error> {
        let kek: Kek = Zeroizing::new(*kek);
        self.open_with(|header| {
            match header.slots.get(index).map(|s| s.kind) {
                Some(SlotKind::Tpm2 | SlotKind::SecretService) => {}
                _ => return Err(Error::Malformed("no sealed key slot at that index")),
            }
            Ok((header.unwrap_from(index, &kek)?, None))
        })
    }

    fn unlock_typed(&mut self, kind: SlotKind, secret: &[u8]) -> Result<Vault, Error> {
        if let Some((storage, _)) = &self.held {
            let file = storage.read_prefix(&self.path, header::MAX_HEADER_LEN)?;
            if header::version(&file)? == FORMAT_VERSION_V1 {
                if kind != SlotKind::Passphrase {
                    return Err(Error::NoSuchSlot(kind));
                }
                let started = Instant::now();
                let file = storage.read(&self.path, MAX_FILE_LEN)?;
                let old = v1::open(&file, secret)?;
                let held = self.held.take().ok_or(Error::Locked)?;
                return Vault::migrate_v1(held, &self.path, old, started);
            }
        }
        self.open_with(|header| {
            let mut tried = false;
            for (index, slot) in header.slots.iter().enumerate() {
                let Lock::Kdf { params, salt } = &slot.lock else {
                    continue;
                };
                if slot.kind != kind {
                    continue;
                }
                tried = true;
                let kek = kdf::derive_kek(secret, salt, *params)?;
                match header.unwrap_from(index, &kek) {
                    Ok(key) => {
                        // Kept while the header is format 2 (see `Vault::v2_kek`).
                        let keep = (header.version == FORMAT_VERSION_PASSPHRASE).then_some(kek);
                        return Ok((key, keep));
                    }
                    Err(Error::WrongPassphraseOrCorrupt) => {}
                    Err(e) => return Err(e),
                }
            }
            Err(if tried {
                Error::WrongPassphraseOrCorrupt
            } else {
                Error::NoSuchSlot(kind)
            })
        })
    }

    /// Reads the file, lets `unwrap` get the data key out of the header, then replays.
    fn open_with(
        &mut self,
        unwrap: impl FnOnce(&Header) -> Result<(DataKey, Option<Kek>), Error>,
    ) -> Result<Vault, Error> {
        let started = Instant::now();
        let Some((storage, _)) = &self.held else {
            return Err(Error::Locked);
        };
        let mut file = storage.read(&self.path, MAX_FILE_LEN)?;
        // Structure and KDF bounds are checked before the KDF runs.
        let (header, header_len) = header::parse(&file)?;
        let kdf_started = Instant::now();
        let (data_key, v2_kek) = unwrap(&header)?;
        let kdf_time = kdf_started.elapsed();
        let r = replay::replay(&mut file, header_len, &data_key, &header.vault_id)?;
        // Zeroing the decrypted buffer is part of the cost of an open.
        drop(file);
        let (storage, lock) = self.held.take().ok_or(Error::Locked)?;
        let version = header.version;
        let mut vault = Vault::assemble(storage, lock, &self.path, header, data_key, 0, r.records);
        vault.live_bytes = r.live_bytes;
        vault.chain = r.chain;
        vault.valid_end = r.valid_end;
        vault.frames = r.frames;
        // FORMAT.md "Open and recovery": the file stays untouched; the next write cuts the tail.
        vault.recovered_tail = r.recovered_tail;
        vault.needs_truncate = r.recovered_tail > 0;
        vault.kdf_time = kdf_time;
        vault.open_time = started.elapsed();
        vault.opened_format_version = version;
        vault.v2_kek = v2_kek;
        Ok(vault)
    }
}
