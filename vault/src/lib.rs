//! softkey's vault: an encrypted, durable store of opaque byte records.
//!
//! One file holds an Argon2id-protected random data key and an append log of individually
//! sealed AES-256-GCM record frames, compacted into a snapshot past a threshold. The byte
//! layout, the crypto, the write procedures and the recovery rules are specified in
//! `vault/FORMAT.md`; the reasons are in ARCHITECTURE.md "The vault". The vault knows
//! nothing of CTAP: callers choose the keys and values. [`backup`] seals export files.

pub mod backup;
mod error;
mod frame;
mod header;
mod kdf;
mod records;
mod replay;
mod seal;
#[cfg(test)]
mod sim;
mod slots;
mod storage;
mod v1;
mod vault;

pub use error::Error;
pub use header::{FORMAT_VERSION, FORMAT_VERSION_PASSPHRASE, KDF_ARGON2ID, MAGIC};
pub use kdf::{FixedCost, KdfParams, SALT_LEN};
pub use records::Change;
pub use slots::{MAX_SEALED_LEN, MAX_SLOTS, NewSlot, SlotInfo, SlotKind};
pub use vault::{LockedVault, Vault, VaultStats};

#[cfg(test)]
mod model_tests;
