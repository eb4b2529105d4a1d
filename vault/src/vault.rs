//! The [`Vault`] handle: create, open (replaying the log, migrating v1), read, and the public
//! write API whose durable procedures live in `vault/write.rs`.
//!
//! Ties FORMAT.md together: "Key derivation" runs once per `create`/`open`, the data key stays
//! in zeroizing memory for writes, and the in-memory map changes only after a write is durable,
//! so a failed write leaves the handle exactly as it was.

mod locked;
mod write;

pub use locked::LockedVault;

use std::fmt;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aes_gcm::Aes256Gcm;
use zeroize::Zeroizing;

use crate::Error;
use crate::frame::Chain;
use crate::header::{FORMAT_VERSION_PASSPHRASE, FORMAT_VERSION_V1, Header};
use crate::kdf::{self, KdfParams};
use crate::records::{Change, Records};
use crate::seal::{self, DataKey};
use crate::slots::SlotInfo;
use crate::storage::{FsStorage, LockGuard, Storage};
use crate::v1;

/// Largest vault file written or read: 4 GiB, checked before the file is read.
pub(crate) const MAX_FILE_LEN: u64 = 4 * 1024 * 1024 * 1024;
/// Compaction runs once the log exceeds 1.25 × the snapshot size plus this slack.
const COMPACT_SLACK: u64 = 4 * 1024 * 1024;
/// Frames beyond a quarter of the record count that trigger a compaction even when the log is
/// small in bytes: every frame costs a separate authentication and parse at open, so a vault
/// grown one put at a time opens like a compacted one plus at most ~N/4 + this many frames
/// (BENCHMARKS.md "Vault scale": 100,000 single-put frames alone took ~100 ms to open).
const FRAME_SLACK: u64 = 4096;
/// Snapshot bytes per record beyond its key and value (op byte and two lengths).
const SNAPSHOT_OVERHEAD: u64 = 9;

/// Size and health figures of an open vault ([`Vault::stats`]).
#[derive(Debug, Clone, Copy)]
pub struct VaultStats {
    /// Bytes of the file that hold the vault (header and committed frames).
    pub file_len: u64,
    /// Records in the vault.
    pub live_records: usize,
    /// Sum of key and value lengths of the records.
    pub live_bytes: u64,
    /// Committed record frames in the file.
    pub log_records: u64,
    /// Current generation ([`Vault::generation`]).
    pub generation: u64,
    /// Argon2id time in the create/open that made this handle.
    pub kdf_time: Duration,
    /// Whole create/open time, KDF included.
    pub open_time: Duration,
    /// Torn-tail bytes discarded at open (0 normally); cut off by the next write.
    pub recovered_tail_bytes: u64,
    /// Format version of the file as opened: 1 if a v1 file was migrated.
    pub opened_format_version: u16,
}

/// An open, unlocked vault. Holds the vault's lock file until dropped.
pub struct Vault {
    path: PathBuf,
    storage: Box<dyn Storage>,
    header: Header,
    data_key: DataKey,
    cipher: Aes256Gcm,
    records: Records,
    live_bytes: u64,
    /// Sequence number and tag of the last committed frame.
    chain: Chain,
    /// End of the last committed frame in the file.
    valid_end: u64,
    frames: u64,
    /// Bytes past `valid_end` may be on disk (torn tail, failed append): cut them first.
    needs_truncate: bool,
    /// A rename's directory fsync failed: redo it before the next write is acknowledged.
    dir_sync_pending: bool,
    compact_slack: u64,
    /// Frame plaintext size at which batches and snapshots start a new frame.
    chunk_len: usize,
    /// Log size below which a failed automatic compaction is not retried.
    compact_retry_at: u64,
    /// Frame count below which a failed automatic compaction is not retried.
    compact_retry_frames: u64,
    kdf_time: Duration,
    open_time: Duration,
    recovered_tail: u64,
    opened_format_version: u16,
    /// The KEK that opened a format-2 header (or made one), kept only while the header is
    /// format 2: adding the first other slot wraps the data key again under it, with the
    /// format-3 associated data. Gone once the header is format 3.
    v2_kek: Option<kdf::Kek>,
    _lock: LockGuard,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No data key and no record keys or values: only what is already visible on disk.
        f.debug_struct("Vault")
            .field("path", &self.path)
            .field("header", &self.header)
            .field("generation", &self.chain.seq)
            .field("records", &self.records.len())
            .finish_non_exhaustive()
    }
}

/// Applies one replayed or written change to the map, keeping `live_bytes` in step.
pub(crate) fn apply_change(
    records: &mut Records,
    live_bytes: &mut u64,
    key: Vec<u8>,
    value: Option<Zeroizing<Vec<u8>>>,
) {
    let klen = key.len() as u64;
    match value {
        Some(v) => {
            *live_bytes += klen + v.len() as u64;
            if let Some(old) = records.insert(key, v) {
                *live_bytes -= klen + old.len() as u64;
            }
        }
        None => {
            if let Some(old) = records.remove(&key) {
                *live_bytes -= klen + old.len() as u64;
            }
        }
    }
}

impl Vault {
    /// Creates a new vault file; fails with [`Error::AlreadyExists`] if the path exists.
    /// Durable before it returns. Creates the parent directory (mode 0700) if needed.
    pub fn create(path: &Path, passphrase: &[u8], params: KdfParams) -> Result<Vault, Error> {
        Self::create_in(Box::new(FsStorage), path, passphrase, params)
    }

    /// Opens, verifies and replays the vault; takes an exclusive lock held for the Vault's
    /// lifetime. A v1 file is migrated to v2 (atomic replace) before this returns.
    pub fn open(path: &Path, passphrase: &[u8]) -> Result<Vault, Error> {
        Self::open_in(Box::new(FsStorage), path, passphrase)
    }

    pub(crate) fn create_in(
        storage: Box<dyn Storage>,
        path: &Path,
        passphrase: &[u8],
        params: KdfParams,
    ) -> Result<Vault, Error> {
        let started = Instant::now();
        params.validate()?;
        storage.ensure_parent_dir(path)?;
        let lock = storage.lock(path)?;
        // Checked under the lock, so no other softkey process can create it meanwhile.
        if storage.exists(path)? {
            return Err(Error::AlreadyExists(path.to_path_buf()));
        }
        let salt = seal::random()?;
        let data_key = seal::new_data_key()?;
        let kdf_started = Instant::now();
        let kek = kdf::derive_kek(passphrase, &salt, params)?;
        let kdf_time = kdf_started.elapsed();
        let header = new_header(seal::random()?, params, salt, &kek, &data_key)?;
        let mut vault = Self::assemble(storage, lock, path, header, data_key, 0, Records::new());
        vault.kdf_time = kdf_time;
        vault.v2_kek = Some(kek);
        vault.compact()?;
        vault.open_time = started.elapsed();
        Ok(vault)
    }

    pub(crate) fn open_in(
        storage: Box<dyn Storage>,
        path: &Path,
        passphrase: &[u8],
    ) -> Result<Vault, Error> {
        LockedVault::lock_in(storage, path)?.unlock(passphrase)
    }

    /// FORMAT.md "Version 1 and migration": same KDF parameters, salt and data key; a new
    /// vault id; the records become the v2 snapshot continuing after the v1 generation.
    fn migrate_v1(
        (storage, lock): (Box<dyn Storage>, LockGuard),
        path: &Path,
        old: v1::V1Contents,
        started: Instant,
    ) -> Result<Vault, Error> {
        let header = new_header(
            seal::random()?,
            old.params,
            old.salt,
            &old.kek,
            &old.data_key,
        )?;
        let mut vault = Self::assemble(
            storage,
            lock,
            path,
            header,
            old.data_key,
            old.generation,
            old.records,
        );
        vault.live_bytes = vault
            .records
            .iter()
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum();
        vault.opened_format_version = FORMAT_VERSION_V1;
        vault.kdf_time = old.kdf_time;
        vault.v2_kek = Some(old.kek);
        vault.compact()?;
        vault.open_time = started.elapsed();
        Ok(vault)
    }

    pub(crate) fn assemble(
        storage: Box<dyn Storage>,
        lock: LockGuard,
        path: &Path,
        header: Header,
        data_key: DataKey,
        generation: u64,
        records: Records,
    ) -> Vault {
        Vault {
            path: path.to_path_buf(),
            storage,
            header,
            cipher: seal::cipher(&data_key),
            data_key,
            records,
            live_bytes: 0,
            chain: Chain::fresh(generation),
            valid_end: 0,
            frames: 0,
            needs_truncate: false,
            dir_sync_pending: false,
            compact_slack: COMPACT_SLACK,
            chunk_len: crate::frame::CHUNK_LEN,
            compact_retry_at: 0,
            compact_retry_frames: 0,
            kdf_time: Duration::ZERO,
            open_time: Duration::ZERO,
            recovered_tail: 0,
            opened_format_version: FORMAT_VERSION_PASSPHRASE,
            v2_kek: None,
            _lock: lock,
        }
    }

    /// The vault file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The Argon2id parameters of the passphrase slot (else of the recovery-key slot).
    pub fn kdf_params(&self) -> KdfParams {
        self.header.kdf_params()
    }

    /// The key slots in the header (FORMAT.md "Key slots").
    pub fn slots(&self) -> Vec<SlotInfo> {
        self.header
            .slots
            .iter()
            .enumerate()
            .map(|(i, s)| s.info(i))
            .collect()
    }

    /// The format version of the header on disk: 2 while the passphrase is the only slot,
    /// 3 once there are others.
    pub fn format_version(&self) -> u16 {
        self.header.version
    }

    /// Random per-vault id from the header (stable across passphrase change and compaction).
    pub fn vault_id(&self) -> [u8; 16] {
        self.header.vault_id
    }

    /// Generation counter: the sequence number of the last committed record frame, stored
    /// inside the ciphertext. 1 after `create`, +1 for every `put`/`delete`/`apply` (more for a
    /// batch larger than one frame, and a compaction advances it by the snapshot's frames).
    /// For rollback detection against a second copy kept elsewhere.
    pub fn generation(&self) -> u64 {
        self.chain.seq
    }

    /// The value stored under `key`.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.records.get(key).map(|v| v.as_slice())
    }

    /// Insert or replace; durable (appended and fdatasync'd) when it returns Ok.
    /// On Err the in-memory state is unchanged.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), Error> {
        self.append_batch(&[Change::Put(key, value)])
    }

    /// Removes `key`; returns whether it existed. Durable as [`Vault::put`]. Deleting an absent
    /// key changes nothing and writes nothing.
    pub fn delete(&mut self, key: &[u8]) -> Result<bool, Error> {
        if !self.records.contains_key(key) {
            return Ok(false);
        }
        self.append_batch(&[Change::Delete(key)])?;
        Ok(true)
    }

    /// All changes durable and atomic together (one fsync): after a crash all or none.
    /// Empty batch = no-op. Deleting an absent key inside a batch is allowed (no effect).
    /// Changes apply in order, so a later change to the same key wins.
    pub fn apply(&mut self, changes: &[Change<'_>]) -> Result<(), Error> {
        if changes.is_empty() {
            return Ok(());
        }
        self.append_batch(changes)
    }

    /// Records whose key starts with `prefix`, in key order.
    pub fn scan_prefix<'a>(
        &'a self,
        prefix: &'a [u8],
    ) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        self.records
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// The first record under `prefix` whose key sorts after `after`: one
    /// step of a walk, without visiting what came before.
    pub fn next_in_prefix<'a>(
        &'a self,
        prefix: &[u8],
        after: &[u8],
    ) -> Option<(&'a [u8], &'a [u8])> {
        self.records
            .range::<[u8], _>((Bound::Excluded(after), Bound::Unbounded))
            .next()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the vault holds no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Size and health figures.
    pub fn stats(&self) -> VaultStats {
        VaultStats {
            file_len: self.valid_end,
            live_records: self.records.len(),
            live_bytes: self.live_bytes,
            log_records: self.frames,
            generation: self.chain.seq,
            kdf_time: self.kdf_time,
            open_time: self.open_time,
            recovered_tail_bytes: self.recovered_tail,
            opened_format_version: self.opened_format_version,
        }
    }

    /// Log bytes past which an automatic compaction runs: 1.25 × snapshot size + slack. Open
    /// time, not disk space, sets the factor: a sorted snapshot replays about twice as fast as
    /// appended frames in arbitrary key order (BENCHMARKS.md "Vault scale"), so the appended part
    /// is kept to a quarter of the snapshot. Each compaction rewrites the snapshot once per
    /// quarter-snapshot appended: amortised, about five bytes written per byte appended.
    fn compaction_threshold(&self) -> u64 {
        let snapshot = self.live_bytes + SNAPSHOT_OVERHEAD * self.records.len() as u64;
        (snapshot + snapshot / 4 + self.compact_slack).max(self.compact_retry_at)
    }

    /// Frame count past which an automatic compaction runs: N/4 + slack.
    fn frame_threshold(&self) -> u64 {
        (self.records.len() as u64 / 4 + FRAME_SLACK).max(self.compact_retry_frames)
    }

    /// Test knobs: a small compaction slack and small frames exercise compaction and
    /// multi-frame batches with little data.
    #[cfg(test)]
    pub(crate) fn set_test_sizes(&mut self, compact_slack: u64, chunk_len: usize) {
        self.compact_slack = compact_slack;
        self.chunk_len = chunk_len;
    }
}

/// A format-2 header with the data key wrapped under `kek` (AAD = header bytes 0..55).
fn new_header(
    vault_id: [u8; 16],
    params: KdfParams,
    salt: [u8; kdf::SALT_LEN],
    kek: &kdf::Kek,
    data_key: &DataKey,
) -> Result<Header, Error> {
    let mut header = Header::passphrase_only(vault_id, params, salt);
    header.wrap_into(0, kek, data_key)?;
    Ok(header)
}
