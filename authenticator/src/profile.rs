//! What kind of key an authenticator presents itself as: every softkey
//! feature (the default), or — for a test-lab key a relying party tests
//! against — a CTAP 2.0 key, or a key without some extensions, as the W3C
//! virtual authenticator's `protocol`/`ctap2Version` and CDP's
//! `hasLargeBlob`, `hasCredBlob`, `hasMinPinLength`, `hasPrf`,
//! `hasHmacSecret` and `hasHmacSecretMc` describe them. Such a key answers
//! getInfo and refuses commands as a real key of that kind does: a command
//! it lacks is CTAP1_ERR_INVALID_COMMAND, an extension it lacks is ignored
//! like any unknown extension (CTAP 2.1 §6.1.2 step 13), and getInfo lists
//! only what it has.

/// The CTAP version the key implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CtapVersion {
    /// CTAP 2.0 (`FIDO_2_0`): no credential management, authenticatorConfig,
    /// large blobs or selection; PIN protocol 1 and getPinToken only.
    Ctap20,
    /// CTAP 2.1 with softkey's CTAP 2.2 additions (the default).
    #[default]
    Ctap21,
    /// The same key declaring `FIDO_2_2` among its versions (a test-lab
    /// profile): what softkey has of CTAP 2.2 is hmac-secret-mc,
    /// thirdPartyPayment and the persistent read-only token with
    /// encIdentifier and encCredStoreState; it lacks transportsForReset,
    /// longTouchForReset and the PIN complexity policy, which are optional.
    Ctap22,
}

/// The extensions the key has; all of them by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionSet {
    pub hmac_secret: bool,
    pub hmac_secret_mc: bool,
    pub cred_blob: bool,
    /// largeBlobKey, the largeBlobs option and command.
    pub large_blob: bool,
    pub min_pin_length: bool,
}

impl Default for ExtensionSet {
    fn default() -> Self {
        ExtensionSet {
            hmac_secret: true,
            hmac_secret_mc: true,
            cred_blob: true,
            large_blob: true,
            min_pin_length: true,
        }
    }
}

impl ExtensionSet {
    /// Whether the key has the extension with this identifier (those the
    /// set does not name are always there).
    pub(crate) fn has(&self, identifier: &str) -> bool {
        use crate::extensions::{
            CRED_BLOB, HMAC_SECRET, HMAC_SECRET_MC, LARGE_BLOB_KEY, MIN_PIN_LENGTH,
        };
        match identifier {
            HMAC_SECRET => self.hmac_secret,
            HMAC_SECRET_MC => self.hmac_secret && self.hmac_secret_mc,
            CRED_BLOB => self.cred_blob,
            LARGE_BLOB_KEY => self.large_blob,
            MIN_PIN_LENGTH => self.min_pin_length,
            _ => true,
        }
    }
}
