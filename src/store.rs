//! Adapts the vault (opaque encrypted records) and the in-memory store to the
//! authenticator's `Store` trait.

use softkey_authenticator::testing::MemoryStore;
use softkey_authenticator::{Store, StoreError};
use softkey_vault::Vault;

/// Where the key keeps its credentials while serving.
#[derive(Debug)]
pub enum Backing {
    /// The encrypted vault file: every write durable before it is acknowledged.
    Vault(Vault),
    /// `--ephemeral`: gone when the process ends.
    Memory(MemoryStore),
}

fn vault_error(error: softkey_vault::Error) -> StoreError {
    StoreError(error.to_string())
}

impl Store for Backing {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Backing::Vault(vault) => Ok(vault.get(key).map(<[u8]>::to_vec)),
            Backing::Memory(memory) => memory.get(key),
        }
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        match self {
            Backing::Vault(vault) => vault.put(key, value).map_err(vault_error),
            Backing::Memory(memory) => memory.put(key, value),
        }
    }

    fn delete(&mut self, key: &[u8]) -> Result<bool, StoreError> {
        match self {
            Backing::Vault(vault) => vault.delete(key).map_err(vault_error),
            Backing::Memory(memory) => memory.delete(key),
        }
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        match self {
            Backing::Vault(vault) => Ok(vault
                .scan_prefix(prefix)
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect()),
            Backing::Memory(memory) => memory.scan_prefix(prefix),
        }
    }

    fn count_prefix(&self, prefix: &[u8]) -> Result<usize, StoreError> {
        match self {
            Backing::Vault(vault) => Ok(vault.scan_prefix(prefix).count()),
            Backing::Memory(memory) => memory.count_prefix(prefix),
        }
    }
}
