//! softkey's vault: an encrypted, durable store of opaque byte records.
//!
//! One file holds everything: an Argon2id-protected data key and an AES-256-GCM body with a
//! generation counter and the records. The byte layout, the crypto and the write procedure are
//! specified in `vault/FORMAT.md`; the recipe follows design/security.md ("Vault recipe").
//! The vault knows nothing of CTAP: callers choose the keys and values.

mod error;
mod format;
mod kdf;
mod records;
mod seal;
mod storage;
mod vault;

pub use error::Error;
pub use format::{FORMAT_VERSION, KDF_ARGON2ID, MAGIC};
pub use kdf::{KdfParams, SALT_LEN};
pub use vault::Vault;
