//! The durable write procedures of a [`Vault`]: append a batch, compact, change the passphrase.
//!
//! Implements FORMAT.md "Write procedures". An append is `write` + `fdatasync` of new frames at
//! the end of the file; the map changes only after it is durable. Compaction and the passphrase
//! change build a whole new file and install it by atomic replace (temp, fsync, rename, fsync
//! dir); the previous file stays in place until the new one is durable.

use std::time::Instant;

use crate::Error;
use crate::frame::{BatchWriter, Chain, too_large};
use crate::header::{HEADER_LEN, Header, TAG_LEN};
use crate::kdf::{self, KdfParams};
use crate::seal;
use crate::storage::{self, ReplaceError};
use crate::vault::{Change, MAX_FILE_LEN, Vault, apply_change};

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

    /// New salt and KEK wrap the same data key; the record frames are copied verbatim (not
    /// re-encrypted); atomic replace. The KDF runs once, with `params` (bounds checked first).
    ///
    /// On Err before the rename, only the old passphrase opens the vault. If only the final
    /// directory fsync failed, the new file is in place and a crash may leave either passphrase
    /// valid; the handle keeps working either way (its records are the same).
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
        let header = super::new_header(self.header.vault_id, params, salt, &kek, &self.data_key)?;
        let current = self.storage.read(&self.path, MAX_FILE_LEN)?;
        let end = usize::try_from(self.valid_end).map_err(|_| too_large("vault too large"))?;
        let frames = current.get(HEADER_LEN..end).ok_or(Error::Corrupt(
            "the vault file changed underneath the open vault",
        ))?;
        // The last committed tag is what the next append chains to: it must be where we left it.
        if frames.get(frames.len().saturating_sub(TAG_LEN)..) != Some(&self.chain.tag[..]) {
            return Err(Error::Corrupt(
                "the vault file changed underneath the open vault",
            ));
        }
        let mut file = header.encode();
        file.extend_from_slice(frames);
        let chain = self.chain;
        let count = self.frames;
        self.install(&file, chain, count, Some(header))?;
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
        header: Option<Header>,
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
        if let Some(h) = header {
            self.header = h;
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
