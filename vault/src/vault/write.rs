//! The durable write procedures of a [`Vault`]: append a batch, compact, change the passphrase.
//!
//! Implements FORMAT.md "Write procedures". An append is `write` + `fdatasync` of new frames at
//! the end of the file; the map changes only after it is durable. Compaction and the passphrase
//! change build a whole new file and install it by atomic replace (temp, fsync, rename, fsync
//! dir); the previous file stays in place until the new one is durable.

use std::time::Instant;

use aes_gcm::Aes256Gcm;

use crate::Error;
use crate::frame::{BatchWriter, Chain, too_large};
use crate::header::{HEADER_LEN, Header};
use crate::kdf::{self, KdfParams};
use crate::records::Change;
use crate::seal::{self, DataKey};
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
        let log = self.valid_end.saturating_sub(HEADER_LEN as u64);
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
        let header_bytes = self.header.encode();
        let mut w = BatchWriter::new(
            &self.cipher,
            self.header.vault_id,
            Chain::fresh(self.chain.seq),
            true,
            header_bytes,
        )
        .with_chunk(self.chunk_len);
        for (k, v) in &self.records {
            w.push(&Change::Put(k, v))?;
        }
        let (file, chain, frames) = w.finish()?;
        self.install(&file, chain, frames, None)
    }

    /// A new passphrase and a new data key: new salt and KEK wrap a freshly generated data key,
    /// and every record is re-encrypted under it in a snapshot (atomic replace). So a copy of
    /// the file taken before the change, together with the old passphrase, opens nothing
    /// written after it (FORMAT.md "Changing the passphrase"). The KDF runs once, with
    /// `params` (bounds checked first).
    ///
    /// On Err before the rename, only the old passphrase and key open the vault. If only the
    /// final directory fsync failed, the new file is in place and a crash may leave either
    /// file; the handle keeps working with the new key either way (its records are the same).
    pub fn change_passphrase(
        &mut self,
        new_passphrase: &[u8],
        params: KdfParams,
    ) -> Result<(), Error> {
        params.validate()?;
        let salt = seal::random()?;
        let started = Instant::now();
        let kek = kdf::derive_kek(new_passphrase, &salt, params)?;
        let kdf_time = started.elapsed();
        let data_key = seal::new_data_key()?;
        let header = super::new_header(self.header.vault_id, params, salt, &kek, &data_key)?;
        let cipher = seal::cipher(&data_key);
        let mut w = BatchWriter::new(
            &cipher,
            self.header.vault_id,
            Chain::fresh(self.chain.seq),
            true,
            header.encode(),
        )
        .with_chunk(self.chunk_len);
        for (k, v) in &self.records {
            w.push(&Change::Put(k, v))?;
        }
        let (file, chain, frames) = w.finish()?;
        let rekey = NewKeys {
            header,
            data_key,
            cipher,
        };
        self.install(&file, chain, frames, Some(rekey))?;
        self.kdf_time = kdf_time;
        Ok(())
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
        }
        match result {
            Err(ReplaceError::AfterRename(e)) => {
                self.dir_sync_pending = true;
                Err(Error::Io(e))
            }
            _ => {
                self.dir_sync_pending = false;
                Ok(())
            }
        }
    }
}

/// The header, data key and cipher a rewritten file is sealed with.
struct NewKeys {
    header: Header,
    data_key: DataKey,
    cipher: Aes256Gcm,
}
