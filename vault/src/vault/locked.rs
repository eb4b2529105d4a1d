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

use crate::Error;
use crate::header::{self, FORMAT_VERSION, FORMAT_VERSION_V1};
use crate::kdf::{self, KdfParams};
use crate::replay;
use crate::seal;
use crate::storage::{FsStorage, LockGuard, Storage};
use crate::v1;

use super::{MAX_FILE_LEN, Vault};

/// A vault file locked against other softkey processes, not yet unlocked.
pub struct LockedVault {
    path: PathBuf,
    params: KdfParams,
    /// Moved into the [`Vault`] by a successful unlock.
    held: Option<(Box<dyn Storage>, LockGuard)>,
}

impl fmt::Debug for LockedVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockedVault")
            .field("path", &self.path)
            .field("kdf_params", &self.params)
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
        let bytes = storage.read_prefix(path, header::HEADER_LEN)?;
        let params = header::kdf_params_of(&bytes)?;
        params.validate()?;
        Ok(Self {
            path: path.to_path_buf(),
            params,
            held: Some((storage, lock)),
        })
    }

    /// The vault file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The Argon2id cost its header names: what an unlock will spend.
    pub fn kdf_params(&self) -> KdfParams {
        self.params
    }

    /// Derives the key from `passphrase`, verifies and replays the vault. On
    /// [`Error::WrongPassphraseOrCorrupt`] the lock stays held: call again
    /// with another passphrase. After a success there is nothing left to
    /// unlock ([`Error::Locked`]).
    pub fn unlock(&mut self, passphrase: &[u8]) -> Result<Vault, Error> {
        let started = Instant::now();
        let Some((storage, _)) = &self.held else {
            return Err(Error::Locked);
        };
        let mut file = storage.read(&self.path, MAX_FILE_LEN)?;
        match header::version(&file)? {
            FORMAT_VERSION => {}
            FORMAT_VERSION_V1 => {
                let old = v1::open(&file, passphrase)?;
                let held = self.held.take().ok_or(Error::Locked)?;
                return Vault::migrate_v1(held, &self.path, old, started);
            }
            v => return Err(Error::UnsupportedVersion(v)),
        }
        // Structure and KDF bounds are checked before the KDF runs.
        let header = header::parse(&file)?;
        let kdf_started = Instant::now();
        let data_key = {
            let kek = kdf::derive_kek(passphrase, &header.salt, header.params)?;
            seal::unwrap_key(
                &kek,
                &header.key_nonce,
                &header.wrapped_key,
                &header.wrap_aad(),
            )?
        };
        let kdf_time = kdf_started.elapsed();
        let r = replay::replay(&mut file, &data_key, &header.vault_id)?;
        // Zeroing the decrypted buffer is part of the cost of an open.
        drop(file);
        let (storage, lock) = self.held.take().ok_or(Error::Locked)?;
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
        Ok(vault)
    }
}
