//! The [`Vault`] handle: create, open, read and durably modify the records.
//!
//! Ties the pieces of FORMAT.md together: "Key derivation" runs once per `create`/`open`, the
//! data key stays in zeroizing memory for writes, and every modification goes through the
//! "Write procedure" with the in-memory map rolled back if the write fails.

use std::fmt;
use std::fs::File;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::Error;
use crate::format::{self, Header, KEY_WRAP_AAD_LEN, MAX_FILE_LEN, NONCE_LEN, WRAPPED_KEY_LEN};
use crate::kdf::{self, KdfParams};
use crate::records::{self, Records};
use crate::seal::{self, DataKey};
use crate::storage::{self, Fault};

/// An open, unlocked vault. Holds the vault's lock file until dropped.
pub struct Vault {
    path: PathBuf,
    params: KdfParams,
    /// The header exactly as on disk: the associated data of every body write.
    header_bytes: Vec<u8>,
    data_key: DataKey,
    /// Generation of the state in `records`, as last read or durably written.
    generation: u64,
    /// Highest generation ever handed to a write, successful or not, so that a write that fails
    /// after its rename never shares its number with a later, different state.
    last_issued: u64,
    records: Records,
    /// Simulated storage failure for tests; always `None` otherwise.
    fault: Option<Fault>,
    _lock: File,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No data key and no record keys or values: only what is already visible on disk.
        f.debug_struct("Vault")
            .field("path", &self.path)
            .field("kdf_params", &self.params)
            .field("generation", &self.generation)
            .field("records", &self.records.len())
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Creates a new vault file; fails with [`Error::AlreadyExists`] if the path exists.
    /// Durable before it returns. Creates the parent directory (mode 0700) if needed.
    pub fn create(path: &Path, passphrase: &[u8], params: KdfParams) -> Result<Vault, Error> {
        params.validate()?;
        storage::ensure_parent_dir(path)?;
        let lock = storage::lock(path)?;
        // Checked under the lock, so no other softkey process can create it meanwhile.
        if storage::exists(path)? {
            return Err(Error::AlreadyExists(path.to_path_buf()));
        }
        let salt = seal::random()?;
        let data_key = seal::new_data_key()?;
        let mut header = Header {
            params,
            salt,
            key_nonce: [0; NONCE_LEN],
            wrapped_key: [0; WRAPPED_KEY_LEN],
        };
        {
            // The KEK lives only for this block (zeroed on drop).
            let kek = kdf::derive_kek(passphrase, &salt, params)?;
            let prefix = header.encode();
            let aad = prefix.get(..KEY_WRAP_AAD_LEN).ok_or(Error::Truncated)?;
            (header.key_nonce, header.wrapped_key) = seal::wrap_key(&kek, &data_key, aad)?;
        }
        let mut vault = Vault {
            path: path.to_path_buf(),
            params,
            header_bytes: header.encode(),
            data_key,
            generation: 0,
            last_issued: 0,
            records: Records::new(),
            fault: None,
            _lock: lock,
        };
        vault.commit()?;
        Ok(vault)
    }

    /// Opens, verifies and decrypts; takes an exclusive lock held for the Vault's lifetime.
    pub fn open(path: &Path, passphrase: &[u8]) -> Result<Vault, Error> {
        // Checked first so that opening a wrong path leaves no lock file behind.
        if !storage::exists(path)? {
            return Err(Error::NotFound(path.to_path_buf()));
        }
        let lock = storage::lock(path)?;
        let bytes = storage::read_bounded(path, MAX_FILE_LEN)?;
        // Structure and KDF bounds are checked before the KDF runs.
        let parsed = format::parse_file(&bytes)?;
        let wrap_aad = parsed
            .header_bytes
            .get(..KEY_WRAP_AAD_LEN)
            .ok_or(Error::Truncated)?;
        let data_key = {
            let kek = kdf::derive_kek(passphrase, &parsed.header.salt, parsed.header.params)?;
            seal::unwrap_key(
                &kek,
                &parsed.header.key_nonce,
                &parsed.header.wrapped_key,
                wrap_aad,
            )?
        };
        let plaintext = seal::open_body(
            &data_key,
            &parsed.body_nonce,
            parsed.header_bytes,
            parsed.ciphertext,
        )?;
        let (generation, records) = records::decode(&plaintext)?;
        Ok(Vault {
            path: path.to_path_buf(),
            params: parsed.header.params,
            header_bytes: parsed.header_bytes.to_vec(),
            data_key,
            generation,
            last_issued: generation,
            records,
            fault: None,
            _lock: lock,
        })
    }

    /// The vault file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The Argon2id parameters in the header.
    pub fn kdf_params(&self) -> KdfParams {
        self.params
    }

    /// Generation counter of the current state: 1 after `create`, +1 for every durable write
    /// (possibly more after a failed write). For rollback detection against a second copy.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The value stored under `key`.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.records.get(key).map(|v| v.as_slice())
    }

    /// Insert or replace; durable (fsync'd, atomically replaced) when it returns Ok.
    /// On Err the in-memory state is unchanged too.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), Error> {
        let previous = self
            .records
            .insert(key.to_vec(), Zeroizing::new(value.to_vec()));
        if let Err(e) = self.commit() {
            match previous {
                Some(old) => self.records.insert(key.to_vec(), old),
                None => self.records.remove(key),
            };
            return Err(e);
        }
        Ok(())
    }

    /// Removes `key`; returns whether it existed. Durable as [`Vault::put`]. Deleting an absent
    /// key changes nothing and writes nothing.
    pub fn delete(&mut self, key: &[u8]) -> Result<bool, Error> {
        let Some(old) = self.records.remove(key) else {
            return Ok(false);
        };
        if let Err(e) = self.commit() {
            self.records.insert(key.to_vec(), old);
            return Err(e);
        }
        Ok(true)
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

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the vault holds no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Writes the current records under the next generation (FORMAT.md "Write procedure").
    fn commit(&mut self) -> Result<(), Error> {
        let next = self
            .last_issued
            .checked_add(1)
            .ok_or(Error::Malformed("generation counter exhausted"))?;
        // Issued before writing: if the write fails after its rename, this number may be on disk.
        self.last_issued = next;
        let plaintext = records::encode(next, &self.records)?;
        let (nonce, ciphertext) = seal::seal_body(&self.data_key, &self.header_bytes, plaintext)?;
        let file = format::encode_file(&self.header_bytes, &nonce, &ciphertext)?;
        storage::replace(&self.path, &file, self.fault)?;
        self.generation = next;
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn inject_fault(&mut self, fault: Option<Fault>) {
        self.fault = fault;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const FAST: KdfParams = KdfParams {
        memory_kib: 8192,
        iterations: 1,
        parallelism: 1,
    };

    fn snapshot(v: &Vault) -> Vec<(Vec<u8>, Vec<u8>)> {
        v.scan_prefix(b"")
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect()
    }

    /// Every failure point of a write leaves the file and the map at the previous version;
    /// after the rename the file may already hold the new one (FORMAT.md "Failures").
    #[test]
    fn failed_writes_roll_back_file_and_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        let mut v = Vault::create(&path, b"pw", FAST).unwrap();
        v.put(b"a", b"1").unwrap();
        v.put(b"b", b"2").unwrap();
        let bytes_before = fs::read(&path).unwrap();
        let state_before = snapshot(&v);
        let faults = [
            Fault::CreateTemp,
            Fault::TornWrite(0),
            Fault::TornWrite(50),
            Fault::TornWrite(bytes_before.len() - 1),
            Fault::SyncTemp,
            Fault::Rename,
        ];
        for fault in faults {
            v.inject_fault(Some(fault));
            assert!(
                matches!(v.put(b"a", b"changed"), Err(Error::Io(_))),
                "{fault:?}"
            );
            assert!(
                matches!(v.put(b"c", b"new"), Err(Error::Io(_))),
                "{fault:?}"
            );
            assert!(matches!(v.delete(b"b"), Err(Error::Io(_))), "{fault:?}");
            assert_eq!(snapshot(&v), state_before, "{fault:?}");
            assert_eq!(fs::read(&path).unwrap(), bytes_before, "{fault:?}");
        }
        assert_eq!(v.generation(), 3);
        v.inject_fault(None);
        v.put(b"c", b"3").unwrap();
        // Failed attempts consumed numbers; the counter never goes back.
        assert!(v.generation() > 3);
        let g = v.generation();
        drop(v);
        let v = Vault::open(&path, b"pw").unwrap();
        assert_eq!(v.generation(), g);
        assert_eq!(v.get(b"a"), Some(&b"1"[..]));
        assert_eq!(v.get(b"c"), Some(&b"3"[..]));
    }

    #[test]
    fn failure_after_rename_never_reuses_a_generation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        let mut v = Vault::create(&path, b"pw", FAST).unwrap();
        v.inject_fault(Some(Fault::SyncDir));
        assert!(v.put(b"k", b"lost?").is_err());
        assert_eq!(v.get(b"k"), None, "memory keeps the previous state");
        v.inject_fault(None);
        v.put(b"other", b"x").unwrap();
        assert_eq!(v.generation(), 3, "generation 2 went to the failed write");
        drop(v);
        let v = Vault::open(&path, b"pw").unwrap();
        assert_eq!(v.generation(), 3);
        assert_eq!(v.get(b"k"), None);
        assert_eq!(v.get(b"other"), Some(&b"x"[..]));
    }

    #[test]
    fn failed_create_leaves_no_vault() {
        // create cannot take a fault before it exists; simulate with a directory in the way of
        // the temp file, which makes create_new fail.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        fs::create_dir(storage::sibling(&path, ".tmp")).unwrap();
        assert!(matches!(
            Vault::create(&path, b"pw", FAST),
            Err(Error::Io(_))
        ));
        assert!(!path.exists());
    }

    #[test]
    fn debug_redacts_keys_and_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        let mut v = Vault::create(&path, b"pw", FAST).unwrap();
        v.put(b"SECRETKEYNAME", b"SECRETVALUE").unwrap();
        let dbg = format!("{v:?}");
        assert!(!dbg.contains("SECRET"), "{dbg}");
        assert!(!dbg.contains("data_key"), "{dbg}");
        assert!(dbg.contains("records: 1"), "{dbg}");
    }
}
