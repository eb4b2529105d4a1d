//! Adapts the vault (opaque encrypted records) and the in-memory store to the
//! authenticator's `Store` trait.

use std::cell::RefCell;
use std::collections::HashMap;

use zeroize::Zeroizing;

use softkey_authenticator::MemoryStore;
use softkey_authenticator::{Store, StoreChange, StoreError, StoreErrorKind, StoredRecord};
use softkey_vault::{Change, Vault};

/// Where the key keeps its credentials while serving.
#[derive(Debug)]
pub enum Backing {
    /// The encrypted vault file: every write durable before it is acknowledged.
    Vault(Box<VaultStore>),
    /// `--ephemeral`: gone when the process ends.
    Memory(MemoryStore),
}

/// The vault plus cached record counts per prefix: the authenticator asks
/// how many discoverable credentials exist on every makeCredential and
/// getInfo, and walking 100,000 keys each time would cost milliseconds.
#[derive(Debug)]
pub struct VaultStore {
    vault: Vault,
    counts: RefCell<HashMap<Vec<u8>, usize>>,
}

impl Backing {
    pub fn vault(vault: Vault) -> Backing {
        Backing::Vault(Box::new(VaultStore {
            vault,
            counts: RefCell::new(HashMap::new()),
        }))
    }
}

impl VaultStore {
    /// Adjusts every cached count whose prefix `key` falls under.
    fn adjust(&self, key: &[u8], added: bool) {
        for (prefix, count) in self.counts.borrow_mut().iter_mut() {
            if key.starts_with(prefix) {
                *count = if added {
                    count.saturating_add(1)
                } else {
                    count.saturating_sub(1)
                };
            }
        }
    }
}

impl Backing {
    /// Rewrites the vault as a sorted snapshot (after a bulk import: a sorted snapshot opens
    /// about twice as fast as one big batch in arbitrary key order). Nothing to do in memory.
    pub fn compact(&mut self) -> Result<(), softkey_vault::Error> {
        match self {
            Backing::Vault(v) => v.vault.compact(),
            Backing::Memory(_) => Ok(()),
        }
    }
}

/// Classifies a vault failure for the authenticator, keeping it as the
/// cause: running out of space becomes KEY_STORE_FULL at the dispatch edge,
/// a damaged record a corrupt store, anything else an I/O failure.
fn vault_error(error: softkey_vault::Error) -> StoreError {
    use softkey_vault::Error as VaultError;
    match error {
        VaultError::Io(io) | VaultError::NotDurable(io) => StoreError::io(io),
        VaultError::Corrupt(_) | VaultError::Malformed(_) | VaultError::Truncated => {
            StoreError::new(StoreErrorKind::Corrupt, error)
        }
        other => StoreError::new(StoreErrorKind::Io, other),
    }
}

impl Store for Backing {
    fn get(&self, key: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        match self {
            Backing::Vault(v) => Ok(v.vault.get(key).map(|value| Zeroizing::new(value.to_vec()))),
            Backing::Memory(memory) => memory.get(key),
        }
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        match self {
            Backing::Vault(v) => {
                let is_new = v.vault.get(key).is_none();
                v.vault.put(key, value).map_err(vault_error)?;
                if is_new {
                    v.adjust(key, true);
                }
                Ok(())
            }
            Backing::Memory(memory) => memory.put(key, value),
        }
    }

    fn delete(&mut self, key: &[u8]) -> Result<bool, StoreError> {
        match self {
            Backing::Vault(v) => {
                let existed = v.vault.delete(key).map_err(vault_error)?;
                if existed {
                    v.adjust(key, false);
                }
                Ok(existed)
            }
            Backing::Memory(memory) => memory.delete(key),
        }
    }

    fn apply(&mut self, changes: &[StoreChange]) -> Result<(), StoreError> {
        match self {
            Backing::Vault(v) => {
                let batch: Vec<Change<'_>> = changes
                    .iter()
                    .map(|change| match change {
                        StoreChange::Put(key, value) => Change::Put(key, value),
                        StoreChange::Delete(key) => Change::Delete(key),
                    })
                    .collect();
                // Counts are recomputed on next use rather than replayed.
                v.counts.borrow_mut().clear();
                v.vault.apply(&batch).map_err(vault_error)
            }
            Backing::Memory(memory) => memory.apply(changes),
        }
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<StoredRecord>, StoreError> {
        match self {
            Backing::Vault(v) => Ok(v
                .vault
                .scan_prefix(prefix)
                .map(|(k, v)| StoredRecord::new(k, v))
                .collect()),
            Backing::Memory(memory) => memory.scan_prefix(prefix),
        }
    }

    fn next_in_prefix(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
    ) -> Result<Option<StoredRecord>, StoreError> {
        match self {
            Backing::Vault(v) => Ok(match after {
                Some(after) => v.vault.next_in_prefix(prefix, after),
                None => v.vault.scan_prefix(prefix).next(),
            }
            .map(|(k, v)| StoredRecord::new(k, v))),
            Backing::Memory(memory) => memory.next_in_prefix(prefix, after),
        }
    }

    fn count_prefix(&self, prefix: &[u8]) -> Result<usize, StoreError> {
        match self {
            Backing::Vault(v) => {
                if let Some(&count) = v.counts.borrow().get(prefix) {
                    return Ok(count);
                }
                let count = v.vault.scan_prefix(prefix).count();
                v.counts.borrow_mut().insert(prefix.to_vec(), count);
                Ok(count)
            }
            Backing::Memory(memory) => memory.count_prefix(prefix),
        }
    }
}
