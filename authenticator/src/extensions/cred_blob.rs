//! credBlob (CTAP 2.1 §12.2): up to maxCredBlobLength bytes stored with a
//! discoverable credential at makeCredential and returned by getAssertion
//! when asked for. Non-discoverable credentials carry no blob (their ID
//! has no room for one): makeCredential answers `credBlob: false`.

use crate::cbor::Value;

/// getInfo maxCredBlobLength (0x0F): §12.2 "at least 32 bytes".
pub(crate) const MAX_CRED_BLOB_LENGTH: usize = 32;

/// makeCredential: the blob to store, if it can be stored, and the output
/// `credBlob: true|false`.
pub(crate) fn make_credential(input: &[u8], discoverable: bool) -> (Option<Vec<u8>>, Value) {
    if discoverable && input.len() <= MAX_CRED_BLOB_LENGTH {
        (Some(input.to_vec()), Value::Bool(true))
    } else {
        (None, Value::Bool(false))
    }
}

/// getAssertion `credBlob: true`: the stored blob, or an empty byte string.
pub(crate) fn get_assertion(stored: Option<&[u8]>) -> Value {
    Value::bytes(stored.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_only_for_discoverable_and_at_most_32_bytes() {
        assert_eq!(
            make_credential(&[1; 32], true),
            (Some(vec![1; 32]), Value::Bool(true))
        );
        assert_eq!(make_credential(&[1; 33], true), (None, Value::Bool(false)));
        assert_eq!(make_credential(&[1; 3], false), (None, Value::Bool(false)));
        assert_eq!(get_assertion(None), Value::bytes(b""));
        assert_eq!(get_assertion(Some(b"ab")), Value::bytes(b"ab"));
    }
}
