//! Extensions (CTAP 2.1 §12): the inputs makeCredential and getAssertion
//! understand, parsed and type-checked, and the canonical extension output
//! map of authenticator data (WebAuthn §6.1: flag ED, 0x80).
//!
//! Unknown extension identifiers are ignored (§6.1.2 step 13 / ARCHITECTURE.md
//! "Malformed requests"); a known one whose value has
//! the wrong CBOR type is CTAP2_ERR_CBOR_UNEXPECTED_TYPE.

use crate::cbor::fields::{self, Fields, optional};
use crate::cbor::{self, Value};
use crate::status::CtapError;

pub(crate) mod cred_blob;
pub(crate) mod cred_protect;
pub(crate) mod hmac_secret;
pub(crate) mod large_blob_key;
pub(crate) mod min_pin_length;

pub(crate) use hmac_secret::{HmacSecretInput, OpenedHmacSecret};

pub(crate) const CRED_PROTECT: &str = "credProtect";
pub(crate) const HMAC_SECRET: &str = "hmac-secret";
pub(crate) const HMAC_SECRET_MC: &str = "hmac-secret-mc";
pub(crate) const CRED_BLOB: &str = "credBlob";
pub(crate) const LARGE_BLOB_KEY: &str = "largeBlobKey";
pub(crate) const MIN_PIN_LENGTH: &str = "minPinLength";
/// CTAP 2.2 §12.9.
pub(crate) const THIRD_PARTY_PAYMENT: &str = "thirdPartyPayment";

/// The identifiers getInfo advertises (0x02), in the order listed there.
pub(crate) const SUPPORTED: [&str; 7] = [
    CRED_PROTECT,
    HMAC_SECRET,
    HMAC_SECRET_MC,
    CRED_BLOB,
    LARGE_BLOB_KEY,
    MIN_PIN_LENGTH,
    THIRD_PARTY_PAYMENT,
];

/// makeCredential extension inputs (§6.1.1 parameter 0x06).
#[derive(Debug, Default)]
pub(crate) struct McExtensions<'a> {
    pub(crate) cred_protect: Option<u8>,
    pub(crate) hmac_secret: bool,
    pub(crate) hmac_secret_mc: Option<HmacSecretInput<'a>>,
    pub(crate) cred_blob: Option<&'a [u8]>,
    pub(crate) large_blob_key: bool,
    pub(crate) min_pin_length: bool,
    pub(crate) third_party_payment: bool,
}

impl<'a> McExtensions<'a> {
    pub(crate) fn parse(value: Option<&'a Value>) -> Result<Self, CtapError> {
        let Some(value) = value else {
            return Ok(McExtensions::default());
        };
        let f = Fields::of(value)?;
        Ok(McExtensions {
            cred_protect: optional(f.text(CRED_PROTECT), cred_protect::parse)?,
            hmac_secret: flag(f.text(HMAC_SECRET))?,
            hmac_secret_mc: optional(f.text(HMAC_SECRET_MC), HmacSecretInput::parse)?,
            cred_blob: optional(f.text(CRED_BLOB), fields::bytes)?,
            large_blob_key: large_blob_key::parse(f.text(LARGE_BLOB_KEY))?,
            min_pin_length: flag(f.text(MIN_PIN_LENGTH))?,
            third_party_payment: flag(f.text(THIRD_PARTY_PAYMENT))?,
        })
    }
}

impl McExtensions<'_> {
    /// The inputs of extensions the key has; the others are ignored like
    /// unknown ones (§6.1.2 step 13).
    pub(crate) fn restricted_to(mut self, has: impl Fn(&str) -> bool) -> Self {
        if !has(CRED_PROTECT) {
            self.cred_protect = None;
        }
        if !has(HMAC_SECRET) {
            self.hmac_secret = false;
        }
        if !has(HMAC_SECRET_MC) {
            self.hmac_secret_mc = None;
        }
        if !has(CRED_BLOB) {
            self.cred_blob = None;
        }
        if !has(LARGE_BLOB_KEY) {
            self.large_blob_key = false;
        }
        if !has(MIN_PIN_LENGTH) {
            self.min_pin_length = false;
        }
        if !has(THIRD_PARTY_PAYMENT) {
            self.third_party_payment = false;
        }
        self
    }
}

/// getAssertion extension inputs (§6.2.1 parameter 0x04).
#[derive(Debug, Default)]
pub(crate) struct GaExtensions<'a> {
    pub(crate) hmac_secret: Option<HmacSecretInput<'a>>,
    pub(crate) cred_blob: bool,
    pub(crate) large_blob_key: bool,
    pub(crate) third_party_payment: bool,
}

impl<'a> GaExtensions<'a> {
    pub(crate) fn parse(value: Option<&'a Value>) -> Result<Self, CtapError> {
        let Some(value) = value else {
            return Ok(GaExtensions::default());
        };
        let f = Fields::of(value)?;
        Ok(GaExtensions {
            hmac_secret: optional(f.text(HMAC_SECRET), HmacSecretInput::parse)?,
            cred_blob: flag(f.text(CRED_BLOB))?,
            large_blob_key: large_blob_key::parse(f.text(LARGE_BLOB_KEY))?,
            third_party_payment: flag(f.text(THIRD_PARTY_PAYMENT))?,
        })
    }
}

impl GaExtensions<'_> {
    /// As [`McExtensions::restricted_to`].
    pub(crate) fn restricted_to(mut self, has: impl Fn(&str) -> bool) -> Self {
        if !has(HMAC_SECRET) {
            self.hmac_secret = None;
        }
        if !has(CRED_BLOB) {
            self.cred_blob = false;
        }
        if !has(LARGE_BLOB_KEY) {
            self.large_blob_key = false;
        }
        if !has(THIRD_PARTY_PAYMENT) {
            self.third_party_payment = false;
        }
        self
    }
}

/// The getAssertion extensions as they apply to every credential of the
/// sequence (getNextAssertion reuses them): hmac-secret already opened.
#[derive(Debug, Default)]
pub(crate) struct AssertionExtensions {
    pub(crate) hmac_secret: Option<OpenedHmacSecret>,
    pub(crate) cred_blob: bool,
    pub(crate) large_blob_key: bool,
    /// CTAP 2.2 §12.9: report each credential's thirdPartyPayment flag.
    pub(crate) third_party_payment: bool,
}

/// A boolean extension input; absent is false.
fn flag(value: Option<&Value>) -> Result<bool, CtapError> {
    Ok(optional(value, fields::boolean)?.unwrap_or(false))
}

/// Appends the extension output map to authenticator data and sets ED,
/// if there is any output.
pub(crate) fn append_outputs(auth_data: &mut Vec<u8>, outputs: Vec<(&str, Value)>) {
    if outputs.is_empty() {
        return;
    }
    if let Some(flags) = auth_data.get_mut(32) {
        *flags |= crate::auth_data::FLAG_ED;
    }
    auth_data.extend_from_slice(&cbor::encode(&Value::text_map(outputs)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: Vec<(&str, Value)>) -> Value {
        Value::text_map(pairs)
    }

    #[test]
    fn unknown_extensions_are_ignored_known_ones_type_checked() {
        let v = map(vec![
            ("unknownExt", Value::int(5)),
            ("credBlob", Value::bytes(b"x")),
        ]);
        let e = McExtensions::parse(Some(&v)).unwrap();
        assert_eq!(e.cred_blob, Some(&b"x"[..]));
        assert!(!e.hmac_secret);
        for (name, bad) in [
            ("hmac-secret", Value::int(1)),
            ("credProtect", Value::text("x")),
            ("credBlob", Value::Bool(true)),
            ("minPinLength", Value::bytes(b"")),
            ("largeBlobKey", Value::int(1)),
            ("hmac-secret-mc", Value::Bool(true)),
        ] {
            let v = map(vec![(name, bad)]);
            assert_eq!(
                McExtensions::parse(Some(&v)).unwrap_err(),
                CtapError::CborUnexpectedType,
                "{name}"
            );
        }
        for (name, bad) in [
            ("hmac-secret", Value::Bool(true)),
            ("credBlob", Value::bytes(b"")),
            ("largeBlobKey", Value::text("y")),
        ] {
            let v = map(vec![(name, bad)]);
            assert_eq!(
                GaExtensions::parse(Some(&v)).unwrap_err(),
                CtapError::CborUnexpectedType,
                "{name}"
            );
        }
        assert_eq!(
            McExtensions::parse(Some(&Value::Null)).unwrap_err(),
            CtapError::CborUnexpectedType
        );
    }

    #[test]
    fn outputs_are_canonical_and_set_ed() {
        let mut data = vec![0u8; 37];
        append_outputs(&mut data, vec![]);
        assert_eq!(data.len(), 37);
        append_outputs(
            &mut data,
            vec![
                ("hmac-secret", Value::Bool(true)),
                ("credProtect", Value::int(2)),
            ],
        );
        assert_eq!(data[32], 0x80);
        let out = cbor::decode(&data[37..]).unwrap();
        assert_eq!(cbor::encode(&out), data[37..]);
        // Canonical order: shorter keys first ("credProtect" < "hmac-secret" by length then bytes).
        assert_eq!(&data[38..39], &[0x6B]);
    }
}
