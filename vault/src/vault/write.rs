//! The durable write procedures of a [`Vault`]: append a batch, compact, change the passphrase.
//!
//! Implements FORMAT.md "Write procedures". An append is `write` + `fdatasync` of new frames at
//! the end of the file; the map changes only after it is durable. Compaction and the passphrase
//! change build a whole new file and install it by atomic replace (temp, fsync, rename, fsync
//! dir); the previous file stays in place until the new one is durable.

use std::time::Instant;

use zeroize::Zeroizing;

use aes_gcm::Aes256Gcm;

use crate::Error;
use crate::frame::{BatchWriter, Chain, too_large};
use crate::header::{
    FORMAT_VERSION_PASSPHRASE, FORMAT_VERSION_SLOTS, Header, MAX_TABLE_LEN, NONCE_LEN,
    WRAPPED_KEY_LEN,
};
use crate::kdf::{self, KdfParams};
use crate::records::Change;
use crate::seal::{self, DataKey};
use crate::slots::{Lock, MAX_SEALED_LEN, MAX_SLOTS, NewSlot, Slot, SlotKind};
use crate::storage::{self, ReplaceError};
use crate::vault::{MAX_FILE_LEN, Vault, apply_change};

impl Vault {
    /// Appends one batch as frames (the last with the commit flag) and applies it in memory
    /// once durable (FORMAT.md "Write procedures").
    pub(super) fn append_batch(&mut self, changes: &[Change<'_>]) -> Result<(), Error> {
        let mut w = BatchWriter::new(
            &self.cipher,
            self.header.vault_id,
            self.chain,
            false,
            Vec::new(),
        )
        .with_chunk(self.chunk_len);
        for change in changes {
            w.push(change)?;
        }
        let (bytes, chain, frames) = w.finish()?;
        let new_end = self
            .valid_end
            .checked_add(bytes.len() as u64)
            .filter(|end| *end <= MAX_FILE_LEN)
            .ok_or_else(|| too_large("the vault would exceed its 4 GiB size limit"))?;
        // A rename whose directory entry may not be durable: appending to the new file before
        // it is would let a crash drop an acknowledged write with the whole new file.
        if self.dir_sync_pending {
            self.storage.sync_dir(&self.path)?;
            self.dir_sync_pending = false;
        }
        // A torn tail or a failed append: cut back to the last commit before appending, so the
        // new frames follow the chain they were sealed against.
        if self.needs_truncate {
            self.storage.truncate_durable(&self.path, self.valid_end)?;
            self.needs_truncate = false;
        }
        if let Err(e) = self.storage.append_durable(&self.path, &bytes) {
            // Some of the frames may be on disk (even all of them, if only the sync failed).
            self.needs_truncate = true;
            if self
                .storage
                .truncate_durable(&self.path, self.valid_end)
                .is_ok()
            {
                self.needs_truncate = false;
            }
            return Err(Error::Io(e));
        }
        self.valid_end = new_end;
        self.chain = chain;
        self.frames += frames;
        for change in changes {
            let (key, value) = match change {
                Change::Put(k, v) => (k.to_vec(), Some(zeroize::Zeroizing::new(v.to_vec()))),
                Change::Delete(k) => (k.to_vec(), None),
            };
            apply_change(&mut self.records, &mut self.live_bytes, key, value);
        }
        self.maybe_compact();
        Ok(())
    }

    /// Runs an automatic compaction past the threshold. The append before it is already
    /// durable, so a failure here is not reported: it is retried after more growth.
    fn maybe_compact(&mut self) {
        let log = self
            .valid_end
            .saturating_sub(self.header.encoded_len() as u64);
        if log <= self.compaction_threshold() && self.frames <= self.frame_threshold() {
            return;
        }
        if self.compact().is_err() {
            self.compact_retry_at = log.saturating_add(self.compact_slack);
            self.compact_retry_frames = self.frames.saturating_add(super::FRAME_SLACK);
        }
    }

    /// Rewrite as a snapshot now (atomic replace). Also runs automatically past a threshold
    /// (log larger than 1.25 × the snapshot plus 4 MiB, or too many frames). The generation keeps growing: the
    /// snapshot's frames continue the sequence.
    ///
    /// On Err the handle stays usable. If only the final directory fsync failed, the new file
    /// is already in place; the next write redoes the fsync before it is acknowledged.
    pub fn compact(&mut self) -> Result<(), Error> {
        let (file, chain, frames) = self.snapshot(&self.header, &self.cipher)?;
        self.install(&file, chain, frames, None)
    }

    /// Header ‖ every record as a snapshot sealed with `cipher`, continuing the sequence.
    fn snapshot(
        &self,
        header: &Header,
        cipher: &Aes256Gcm,
    ) -> Result<(Vec<u8>, Chain, u64), Error> {
        let mut w = BatchWriter::new(
            cipher,
            self.header.vault_id,
            Chain::fresh(self.chain.seq),
            true,
            header.encode(),
        )
        .with_chunk(self.chunk_len);
        for (k, v) in &self.records {
            w.push(&Change::Put(k, v))?;
        }
        w.finish()
    }

    /// A new passphrase. While the passphrase is the vault's only slot (format 2) this also
    /// makes a new data key: new salt and KEK wrap a freshly generated data key, and every
    /// record is re-encrypted under it in a snapshot (atomic replace). So a copy of the file
    /// taken before the change, together with the old passphrase, opens nothing written after
    /// it (FORMAT.md "Passphrase change"). With other slots (format 3) the data key stays, as
    /// it must for a recovery key that was printed once: only the passphrase slot is replaced
    /// ([`Vault::add_slot`]). The KDF runs once, with `params` (bounds checked first).
    ///
    /// On Err before the rename, only the old passphrase and key open the vault. If only the
    /// final directory fsync failed, the new file is in place and a crash may leave either
    /// file; the handle keeps working with the new key either way (its records are the same).
    pub fn change_passphrase(
        &mut self,
        new_passphrase: &[u8],
        params: KdfParams,
    ) -> Result<(), Error> {
        if self.header.version != FORMAT_VERSION_PASSPHRASE {
            return self.add_slot(NewSlot::Passphrase {
                passphrase: new_passphrase,
                params,
            });
        }
        params.validate()?;
        let salt = seal::random()?;
        let started = Instant::now();
        let kek = kdf::derive_kek(new_passphrase, &salt, params)?;
        let kdf_time = started.elapsed();
        let data_key = seal::new_data_key()?;
        let header = super::new_header(self.header.vault_id, params, salt, &kek, &data_key)?;
        let cipher = seal::cipher(&data_key);
        let (file, chain, frames) = self.snapshot(&header, &cipher)?;
        let rekey = NewKeys {
            header,
            data_key,
            cipher,
            v2_kek: Some(kek),
        };
        self.install(&file, chain, frames, Some(rekey))?;
        self.kdf_time = kdf_time;
        Ok(())
    }

    /// Adds a key slot (FORMAT.md "Key slots"), or replaces the slot of the same kind: a vault
    /// has at most one passphrase, one recovery key, one TPM and one Secret Service slot. The
    /// data key stays, so every other slot keeps working; the header becomes format 3 and the
    /// file is rewritten as a snapshot (atomic replace).
    pub fn add_slot(&mut self, new: NewSlot<'_>) -> Result<(), Error> {
        let kind = new.kind();
        // A format-2 vault's passphrase slot is its only one: changing it keeps format 2.
        if self.header.version == FORMAT_VERSION_PASSPHRASE
            && let NewSlot::Passphrase { passphrase, params } = new
        {
            return self.change_passphrase(passphrase, params);
        }
        let (lock, kek) = match new {
            NewSlot::Passphrase {
                passphrase: secret,
                params,
            }
            | NewSlot::RecoveryKey {
                key: secret,
                params,
            } => {
                params.validate()?;
                let salt = seal::random()?;
                let started = Instant::now();
                let kek = kdf::derive_kek(secret, &salt, params)?;
                self.kdf_time = started.elapsed();
                (Lock::Kdf { params, salt }, kek)
            }
            NewSlot::Sealed { kind, blob, kek } => {
                if !matches!(kind, SlotKind::Tpm2 | SlotKind::SecretService) {
                    return Err(Error::Malformed(
                        "only a TPM or Secret Service slot is sealed",
                    ));
                }
                if blob.is_empty() || blob.len() > MAX_SEALED_LEN {
                    return Err(Error::Malformed(
                        "a sealed key slot's blob is empty or too long",
                    ));
                }
                (Lock::Sealed(blob.to_vec()), Zeroizing::new(*kek))
            }
        };
        let mut header = self.header_with_slots()?;
        header.slots.retain(|s| s.kind != kind);
        if header.slots.len() >= MAX_SLOTS {
            return Err(Error::TooManySlots);
        }
        header.slots.push(Slot {
            kind,
            lock,
            key_nonce: [0; NONCE_LEN],
            wrapped_key: [0; WRAPPED_KEY_LEN],
        });
        header.wrap_into(header.slots.len() - 1, &kek, &self.data_key)?;
        // Never write a header the reader would refuse: that would lose every slot.
        if header.table_len() > MAX_TABLE_LEN {
            return Err(Error::TooManySlots);
        }
        self.rewrite_header(header)
    }

    /// Removes the slot of `kind`. Refused when no passphrase or recovery-key slot would
    /// remain: a TPM or keyring alone dies with the machine, and the vault with it.
    pub fn remove_slot(&mut self, kind: SlotKind) -> Result<(), Error> {
        if !self.header.slots.iter().any(|s| s.kind == kind) {
            return Err(Error::NoSuchSlot(kind));
        }
        if !self
            .header
            .slots
            .iter()
            .any(|s| s.kind != kind && s.kind.is_for_a_person())
        {
            return Err(Error::LastSlotForAPerson);
        }
        let mut header = self.header.clone();
        header.slots.retain(|s| s.kind != kind);
        self.rewrite_header(header)
    }

    /// The header as format 3. A format-2 header's one slot is wrapped again with the
    /// format-3 associated data, under the KEK kept from the unlock for exactly this.
    fn header_with_slots(&self) -> Result<Header, Error> {
        let mut header = self.header.clone();
        if header.version == FORMAT_VERSION_SLOTS {
            return Ok(header);
        }
        let kek = self
            .v2_kek
            .as_ref()
            .ok_or(Error::NoSuchSlot(SlotKind::Passphrase))?;
        header.version = FORMAT_VERSION_SLOTS;
        header.wrap_into(0, kek, &self.data_key)?;
        Ok(header)
    }

    /// Installs `header` with the same data key: header ‖ snapshot, by atomic replace.
    fn rewrite_header(&mut self, header: Header) -> Result<(), Error> {
        let (file, chain, frames) = self.snapshot(&header, &self.cipher)?;
        // A format-3 header needs no KEK kept; a format-2 one (only ever the same passphrase
        // slot) keeps the one it has.
        let v2_kek = match header.version {
            FORMAT_VERSION_SLOTS => None,
            _ => self.v2_kek.clone(),
        };
        let keys = NewKeys {
            header,
            data_key: self.data_key.clone(),
            cipher: self.cipher.clone(),
            v2_kek,
        };
        self.install(&file, chain, frames, Some(keys))
    }

    /// Atomically replaces the vault file with `file` and, once the rename happened, makes the
    /// handle describe it (FORMAT.md "Write procedures").
    fn install(
        &mut self,
        file: &[u8],
        chain: Chain,
        frames: u64,
        keys: Option<NewKeys>,
    ) -> Result<(), Error> {
        if file.len() as u64 > MAX_FILE_LEN {
            return Err(too_large("the vault would exceed its 4 GiB size limit"));
        }
        let result = storage::replace(&*self.storage, &self.path, file);
        if let Err(ReplaceError::BeforeRename(e)) = result {
            return Err(Error::Io(e));
        }
        self.valid_end = file.len() as u64;
        self.chain = chain;
        self.frames = frames;
        self.needs_truncate = false;
        self.compact_retry_at = 0;
        self.compact_retry_frames = 0;
        // Once renamed, the file is the new one: every later frame must be sealed with its key.
        if let Some(k) = keys {
            self.header = k.header;
            self.data_key = k.data_key;
            self.cipher = k.cipher;
            self.v2_kek = k.v2_kek;
        }
        match result {
            Err(ReplaceError::AfterRename(e)) => {
                self.dir_sync_pending = true;
                Err(Error::NotDurable(e))
            }
            _ => {
                self.dir_sync_pending = false;
                Ok(())
            }
        }
    }
}

/// The header, data key and cipher a rewritten file is sealed with.
/// What a rewrite installs with the file, all at once after the rename (also when only the
/// directory fsync then fails): the handle must describe the file that is in place.
struct NewKeys {
    header: Header,
    data_key: DataKey,
    cipher: Aes256Gcm,
    /// The KEK kept while the header is format 2 (see `Vault::v2_kek`).
    v2_kek: Option<crate::kdf::Kek>,
}
