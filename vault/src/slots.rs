//! Key slots (FORMAT.md "Key slots"): every slot wraps the same data key under a key-encryption
//! key of its own, so any one of them opens the vault.
//!
//! Two kinds of lock exist. A person's slot (passphrase, recovery key) derives its KEK with
//! Argon2id from what the person types, with parameters and salt in the slot. A sealed slot
//! (TPM, Secret Service) holds an opaque blob that something outside the vault turns into the
//! 32-byte KEK: the vault never learns how, and the caller never sees the data key.
//! Each slot's key wrap authenticates the vault id and the slot's own description, so a slot
//! cannot be moved to another vault or edited into another lock without failing to unwrap.

use crate::Error;
use crate::header::{MAGIC, NONCE_LEN, Reader, VAULT_ID_LEN, WRAPPED_KEY_LEN, read_kdf};
use crate::kdf::{KdfParams, SALT_LEN};

/// At most this many slots in one header.
pub const MAX_SLOTS: usize = 8;
/// Largest sealed blob (a TPM2B_PUBLIC and TPM2B_PRIVATE together are a few hundred bytes).
pub const MAX_SEALED_LEN: usize = 4096;

/// What a slot is opened with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SlotKind {
    /// The vault passphrase, through Argon2id.
    Passphrase,
    /// A random recovery key printed once, through Argon2id.
    RecoveryKey,
    /// A KEK sealed to this machine's TPM 2.0; the blob is the sealed object.
    Tpm2,
    /// A KEK kept in the desktop's Secret Service; the blob names the item.
    SecretService,
    /// A kind this build does not know (written by a newer softkey): kept as it is, never used.
    Unknown(u8),
}

impl SlotKind {
    /// The byte FORMAT.md gives the kind.
    pub fn code(self) -> u8 {
        match self {
            Self::Passphrase => 1,
            Self::RecoveryKey => 2,
            Self::Tpm2 => 3,
            Self::SecretService => 4,
            Self::Unknown(code) => code,
        }
    }

    fn from_code(code: u8) -> Self {
        match code {
            1 => Self::Passphrase,
            2 => Self::RecoveryKey,
            3 => Self::Tpm2,
            4 => Self::SecretService,
            other => Self::Unknown(other),
        }
    }

    /// Whether a person can open this slot from memory or paper, with nothing else: the slots
    /// of which at least one must always remain.
    pub fn is_for_a_person(self) -> bool {
        matches!(self, Self::Passphrase | Self::RecoveryKey)
    }
}

/// How a slot's KEK is obtained.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Lock {
    /// Argon2id(typed secret, salt, params).
    Kdf {
        params: KdfParams,
        salt: [u8; SALT_LEN],
    },
    /// Released by something outside the vault, given this blob.
    Sealed(Vec<u8>),
    /// A kind this build does not know: its body, kept byte for byte.
    Opaque(Vec<u8>),
}

/// One slot of the header.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Slot {
    pub kind: SlotKind,
    pub lock: Lock,
    pub key_nonce: [u8; NONCE_LEN],
    pub wrapped_key: [u8; WRAPPED_KEY_LEN],
}

impl Slot {
    /// The slot's description: everything but the key wrap.
    fn describe(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match &self.lock {
            Lock::Kdf { params, salt } => {
                out.push(crate::header::KDF_ARGON2ID);
                out.extend_from_slice(&params.memory_kib.to_le_bytes());
                out.extend_from_slice(&params.iterations.to_le_bytes());
                out.extend_from_slice(&params.parallelism.to_le_bytes());
                out.extend_from_slice(salt);
            }
            Lock::Sealed(blob) => {
                out.extend_from_slice(&(blob.len() as u16).to_le_bytes());
                out.extend_from_slice(blob);
            }
            Lock::Opaque(body) => out.extend_from_slice(body),
        }
        out
    }

    /// The slot's body as written: description, then key nonce and wrapped key (an unknown
    /// kind's body is written back unchanged).
    fn body(&self) -> Vec<u8> {
        let mut out = self.describe();
        if !matches!(self.lock, Lock::Opaque(_)) {
            out.extend_from_slice(&self.key_nonce);
            out.extend_from_slice(&self.wrapped_key);
        }
        out
    }

    /// The key wrap's associated data in a format-3 header: magic, version 3, vault id, kind
    /// and the slot's description (FORMAT.md "Key slots").
    pub fn wrap_aad(&self, vault_id: &[u8; VAULT_ID_LEN]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&crate::header::FORMAT_VERSION_SLOTS.to_le_bytes());
        out.extend_from_slice(vault_id);
        out.push(self.kind.code());
        out.extend_from_slice(&self.describe());
        out
    }

    /// What a caller may see of the slot.
    pub fn info(&self, index: usize) -> SlotInfo {
        SlotInfo {
            index,
            kind: self.kind,
            kdf_params: match &self.lock {
                Lock::Kdf { params, .. } => Some(*params),
                _ => None,
            },
            sealed: match &self.lock {
                Lock::Sealed(blob) => Some(blob.clone()),
                _ => None,
            },
        }
    }
}

/// A slot as a caller sees it: nothing in it is secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotInfo {
    /// Position in the header (0-based), what [`crate::LockedVault::unlock_sealed`] takes.
    pub index: usize,
    /// What opens it.
    pub kind: SlotKind,
    /// The Argon2id cost of a passphrase or recovery-key slot.
    pub kdf_params: Option<KdfParams>,
    /// The sealed blob of a TPM or Secret Service slot, for whoever unseals it.
    pub sealed: Option<Vec<u8>>,
}

/// A slot to add ([`crate::Vault::add_slot`]): what its KEK comes from.
pub enum NewSlot<'a> {
    /// A passphrase, through Argon2id with `params` (a fresh salt).
    Passphrase {
        passphrase: &'a [u8],
        params: KdfParams,
    },
    /// A recovery key's text, through Argon2id with `params` (a fresh salt).
    RecoveryKey { key: &'a [u8], params: KdfParams },
    /// A KEK held outside the vault (`kind` is [`SlotKind::Tpm2`] or
    /// [`SlotKind::SecretService`]); `blob` is what it needs to release it again.
    Sealed {
        kind: SlotKind,
        blob: &'a [u8],
        kek: &'a [u8; 32],
    },
}

impl core::fmt::Debug for NewSlot<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never the passphrase, key or KEK.
        let kind = match self {
            Self::Passphrase { .. } => SlotKind::Passphrase,
            Self::RecoveryKey { .. } => SlotKind::RecoveryKey,
            Self::Sealed { kind, .. } => *kind,
        };
        f.debug_struct("NewSlot")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

impl NewSlot<'_> {
    pub(crate) fn kind(&self) -> SlotKind {
        match self {
            Self::Passphrase { .. } => SlotKind::Passphrase,
            Self::RecoveryKey { .. } => SlotKind::RecoveryKey,
            Self::Sealed { kind, .. } => *kind,
        }
    }
}

/// Serialises the slot table: count, then per slot kind, body length and body.
pub(crate) fn encode_table(slots: &[Slot]) -> Vec<u8> {
    let mut out = vec![slots.len() as u8];
    for slot in slots {
        let body = slot.body();
        out.push(slot.kind.code());
        out.extend_from_slice(&(body.len() as u16).to_le_bytes());
        out.extend_from_slice(&body);
    }
    out
}

/// Parses a slot table that must fill `table` exactly.
pub(crate) fn parse_table(table: &[u8]) -> Result<Vec<Slot>, Error> {
    let mut r = Reader::new(table);
    let count = usize::from(u8::from_le_bytes(r.array()?));
    if count == 0 || count > MAX_SLOTS {
        return Err(Error::Malformed(
            "the vault header has no key slot, or too many",
        ));
    }
    let mut slots = Vec::with_capacity(count);
    for _ in 0..count {
        let kind = SlotKind::from_code(u8::from_le_bytes(r.array()?));
        let len = usize::from(u16::from_le_bytes(r.array()?));
        let body = r.take(len)?;
        // FORMAT.md "Key slots": one slot per kind. Our writer never repeats one, and a
        // repeated typed kind would multiply the Argon2id work an unlock attempt may cost.
        if !matches!(kind, SlotKind::Unknown(_)) && slots.iter().any(|s: &Slot| s.kind == kind) {
            return Err(Error::Malformed("two key slots of one kind"));
        }
        slots.push(parse_slot(kind, body)?);
    }
    if !r.rest().is_empty() {
        return Err(Error::Malformed("bytes after the last key slot"));
    }
    if !slots.iter().any(|s| s.kind.is_for_a_person()) {
        return Err(Error::Malformed(
            "the vault header has no passphrase or recovery-key slot",
        ));
    }
    Ok(slots)
}

fn parse_slot(kind: SlotKind, body: &[u8]) -> Result<Slot, Error> {
    let mut r = Reader::new(body);
    let lock = match kind {
        SlotKind::Unknown(_) => {
            return Ok(Slot {
                kind,
                lock: Lock::Opaque(body.to_vec()),
                key_nonce: [0; NONCE_LEN],
                wrapped_key: [0; WRAPPED_KEY_LEN],
            });
        }
        k if k.is_for_a_person() => {
            let (params, salt) = read_kdf(&mut r)?;
            Lock::Kdf { params, salt }
        }
        _ => {
            let len = usize::from(u16::from_le_bytes(r.array()?));
            if len == 0 || len > MAX_SEALED_LEN {
                return Err(Error::Malformed(
                    "a sealed key slot's blob is empty or too long",
                ));
            }
            Lock::Sealed(r.take(len)?.to_vec())
        }
    };
    let slot = Slot {
        kind,
        lock,
        key_nonce: r.array()?,
        wrapped_key: r.array()?,
    };
    if !r.rest().is_empty() {
        return Err(Error::Malformed("bytes after a key slot's wrapped key"));
    }
    Ok(slot)
}
