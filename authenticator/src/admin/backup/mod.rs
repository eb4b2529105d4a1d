//! Backup export and import of everything a restored key needs to keep
//! working for every RP: discoverable credentials with their private keys,
//! the wrap keys that open non-discoverable credential IDs, the signature
//! counter ceiling and the large-blob array (CTAP 2.1 §6.10).
//!
//! This is the authenticator's half of `softkey export` / `import`: plain
//! values in, plain values out. The CLI maps them to the FIDO Credential
//! Exchange Format (CXF) and encrypts them; nothing here does JSON or
//! encryption. PIN and PIN retries are device state, not credentials, and
//! are not exported.
//!
//! Import ([`import_backup`]) validates the whole backup first and then
//! writes it with one [`Store::apply`](crate::Store::apply): all or
//! nothing. It is meant for a store that no running [`Authenticator`]
//! serves: an authenticator caches the device secrets, the imported wrap
//! keys and the counter reservation in RAM and would not see the import
//! (start a new one afterwards).
//!
//! [`Authenticator`]: crate::Authenticator

pub(crate) mod device;
pub(crate) mod export;
pub(crate) mod import;
pub(crate) mod pkcs8;

use core::fmt;

use zeroize::Zeroizing;

use crate::admin::list::CredentialSummary;
use crate::env::StoreError;

pub use export::export_backup;
pub use import::import_backup;

/// A credential's signature algorithm: every one the key signs with.
pub type BackupAlgorithm = crate::keys::Algorithm;

/// A credential's hmac-secret CredRandoms (CTAP 2.1 §12.5), the two values
/// a WebAuthn PRF output is computed from.
#[derive(Clone, PartialEq, Eq)]
pub struct HmacCredentials {
    pub with_uv: Zeroizing<[u8; 32]>,
    pub without_uv: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for HmacCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacCredentials { .. }")
    }
}

/// One discoverable credential (passkey). `Debug` shows no key material.
#[derive(Clone)]
pub struct BackupCredential {
    /// 1..=1023 bytes (WebAuthn §4 "Credential ID").
    pub credential_id: Vec<u8>,
    pub rp_id: String,
    pub rp_name: Option<String>,
    /// The user handle, 1..=64 bytes (WebAuthn §5.4.3).
    pub user_id: Vec<u8>,
    pub user_name: Option<String>,
    pub user_display_name: Option<String>,
    /// Seconds since the Unix epoch.
    pub created: u64,
    pub algorithm: BackupAlgorithm,
    /// PKCS#8 DER (RFC 5958) of a P-256 (RFC 5915 inside) or Ed25519
    /// (RFC 8410) private key, matching `algorithm`.
    pub private_key_pkcs8: Zeroizing<Vec<u8>>,
    /// credProtect level 1..=3 (CTAP 2.1 §12.1).
    pub cred_protect: u8,
    /// credBlob (CTAP 2.1 §12.2), at most 32 bytes.
    pub cred_blob: Option<Vec<u8>>,
    /// largeBlobKey (CTAP 2.1 §12.3).
    pub large_blob_key: Option<Zeroizing<[u8; 32]>>,
    /// hmac-secret CredRandoms; `None` lets the importing device derive
    /// its own (PRF outputs then change).
    pub hmac: Option<HmacCredentials>,
    /// Made with thirdPartyPayment (CTAP 2.2 §12.9).
    pub third_party_payment: bool,
}

impl fmt::Debug for BackupCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupCredential")
            .field("credential_id", &self.credential_id)
            .field("rp_id", &self.rp_id)
            .field("rp_name", &self.rp_name)
            .field("user_id", &self.user_id)
            .field("user_name", &self.user_name)
            .field("user_display_name", &self.user_display_name)
            .field("created", &self.created)
            .field("algorithm", &self.algorithm)
            .field("cred_protect", &self.cred_protect)
            .field("cred_blob", &self.cred_blob.as_ref().map(Vec::len))
            .field("large_blob_key", &self.large_blob_key.is_some())
            .field("hmac", &self.hmac.is_some())
            .field("third_party_payment", &self.third_party_payment)
            .finish_non_exhaustive()
    }
}

impl BackupCredential {
    /// The listing line for this credential.
    pub fn summary(&self) -> CredentialSummary {
        CredentialSummary {
            rp_id: self.rp_id.clone(),
            user_id: self.user_id.clone(),
            user_name: self.user_name.clone(),
            user_display_name: self.user_display_name.clone(),
            created: self.created,
            credential_id: self.credential_id.clone(),
        }
    }
}

/// Everything a backup holds. `Debug` shows no key material.
#[derive(Clone, Default)]
pub struct BackupContents {
    pub credentials: Vec<BackupCredential>,
    /// The signature counter ceiling: every counter value the exporting
    /// device ever signed with is ≤ it. Import raises ours to at least this.
    pub sign_count: u32,
    /// Wrap keys (the exporting device's own first), so non-discoverable
    /// credential IDs it issued keep working on the importing device.
    pub wrap_keys: Vec<Zeroizing<[u8; 32]>>,
    /// The serialized large-blob array (CTAP 2.1 §6.10), if it is not the
    /// empty initial one.
    pub large_blob_array: Option<Vec<u8>>,
}

impl fmt::Debug for BackupContents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupContents")
            .field("credentials", &self.credentials)
            .field("sign_count", &self.sign_count)
            .field("wrap_keys", &self.wrap_keys.len())
            .field(
                "large_blob_array",
                &self.large_blob_array.as_ref().map(Vec::len),
            )
            .finish()
    }
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Credentials of the backup now stored, in backup order.
    pub added: Vec<CredentialSummary>,
    /// Credentials of the backup whose RP already had a credential with the
    /// same ID: the existing one was kept untouched.
    pub kept_existing: Vec<CredentialSummary>,
    /// The signature counter ceiling after the import.
    pub sign_count: u32,
    /// Whether the backup's large-blob array was stored (only when this
    /// device had none of its own).
    pub large_blobs_restored: bool,
}

/// Why an export or import failed. Messages never contain key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupError {
    /// The store failed; an import wrote nothing.
    Store(StoreError),
    /// Device state in the store does not decode (`what` names it).
    Corrupt(&'static str),
    /// Credential `index` of the backup is unusable; nothing was written.
    InvalidCredential { index: usize, reason: &'static str },
    /// The backup's large-blob array is malformed; nothing was written.
    InvalidLargeBlobArray,
    /// The import would push the signature counter past `u32::MAX`.
    CounterExhausted,
}

impl fmt::Display for BackupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackupError::Store(e) => write!(f, "{e}"),
            BackupError::Corrupt(what) => write!(f, "corrupt device state: {what}"),
            BackupError::InvalidCredential { index, reason } => {
                write!(f, "backup credential #{index} is invalid: {reason}")
            }
            BackupError::InvalidLargeBlobArray => {
                f.write_str("the backup's large-blob array is malformed")
            }
            BackupError::CounterExhausted => {
                f.write_str("the signature counter would exceed its maximum")
            }
        }
    }
}

impl std::error::Error for BackupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BackupError::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StoreError> for BackupError {
    fn from(e: StoreError) -> Self {
        BackupError::Store(e)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod type_tests {
    use super::*;

    #[test]
    fn debug_shows_no_key_material() {
        let secret = [0xAB_u8; 32];
        let credential = BackupCredential {
            credential_id: vec![1],
            rp_id: "example.com".into(),
            rp_name: None,
            user_id: vec![2],
            user_name: Some("alice".into()),
            user_display_name: None,
            created: 5,
            algorithm: BackupAlgorithm::Es256,
            private_key_pkcs8: Zeroizing::new(secret.to_vec()),
            cred_protect: 1,
            cred_blob: Some(vec![0xAB; 4]),
            large_blob_key: Some(Zeroizing::new(secret)),
            hmac: Some(HmacCredentials {
                with_uv: Zeroizing::new(secret),
                without_uv: Zeroizing::new(secret),
            }),
            third_party_payment: false,
        };
        let contents = BackupContents {
            credentials: vec![credential],
            sign_count: 9,
            wrap_keys: vec![Zeroizing::new(secret)],
            large_blob_array: Some(vec![0xAB; 20]),
        };
        let debug = format!("{contents:?}");
        assert!(debug.contains("alice") && debug.contains("example.com"));
        assert!(!debug.contains("171"), "{debug}"); // 0xAB in decimal
        assert!(!debug.to_lowercase().contains("ab, "), "{debug}");
    }

    #[test]
    fn display_names_the_problem() {
        let e = BackupError::InvalidCredential {
            index: 3,
            reason: "credProtect is not 1, 2 or 3",
        };
        assert_eq!(
            e.to_string(),
            "backup credential #3 is invalid: credProtect is not 1, 2 or 3"
        );
        let e = BackupError::from(StoreError::io(std::io::ErrorKind::StorageFull.into()));
        assert_eq!(e.to_string(), "store full: no storage space");
        assert!(std::error::Error::source(&e).is_some());
    }
}
