//! The serialized large-blob array (CTAP 2.1 §6.10.1): opaque to the key
//! except for its trailer, LEFT(SHA-256(everything before), 16). Stored
//! verbatim under [`crate::store_keys::LARGE_BLOB_ARRAY`]; absent means the
//! initial value. The authenticatorLargeBlobs command reads and writes it;
//! backup export and import carry it.

use sha2::{Digest, Sha256};

/// getInfo maxSerializedLargeBlobArray (0x0B): the largest array we keep.
pub(crate) const MAX_SERIALIZED_LARGE_BLOB_ARRAY: usize = 16384;
pub(crate) const HASH_LEN: usize = 16;
/// §6.10.2 set step 2.c: an array is at least `0x80` plus its 16-byte hash.
pub(crate) const MIN_ARRAY_LEN: usize = 1 + HASH_LEN;

/// The initial serialized array: `h'80' || LEFT(SHA-256(h'80'), 16)`.
pub(crate) fn initial_array() -> Vec<u8> {
    let mut array = vec![0x80];
    array.extend_from_slice(&truncated_hash(&array));
    array
}

/// Whether `array` could have been stored by a §6.10.2 set: within our
/// size bounds and ending in the hash of what comes before (step 9).
pub(crate) fn is_valid_array(array: &[u8]) -> bool {
    if !(MIN_ARRAY_LEN..=MAX_SERIALIZED_LARGE_BLOB_ARRAY).contains(&array.len()) {
        return false;
    }
    array
        .split_at_checked(array.len() - HASH_LEN)
        .is_some_and(|(data, hash)| truncated_hash(data) == hash)
}

/// A write in progress: the bytes received so far of an array of
/// `expected_length` bytes. The next fragment's offset is `buffer.len()`.
#[derive(Debug)]
pub(crate) struct PendingWrite {
    pub(crate) expected_length: usize,
    pub(crate) buffer: Vec<u8>,
}

/// LEFT(SHA-256(data), 16): the array's trailer.
pub(crate) fn truncated_hash(data: &[u8]) -> [u8; HASH_LEN] {
    let digest = Sha256::digest(data);
    let mut out = [0u8; HASH_LEN];
    out.copy_from_slice(digest.get(..HASH_LEN).unwrap_or(&[0; HASH_LEN]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_validity() {
        assert!(is_valid_array(&initial_array()));
        let mut array = vec![0x81, 0x40];
        array.extend_from_slice(&truncated_hash(&array));
        assert!(is_valid_array(&array));
        let last = array.len() - 1;
        array[last] ^= 1;
        assert!(!is_valid_array(&array));
        assert!(!is_valid_array(&[0x80]));
        let mut big = vec![0x40; MAX_SERIALIZED_LARGE_BLOB_ARRAY - HASH_LEN + 1];
        big.extend_from_slice(&truncated_hash(&big.clone()));
        assert!(!is_valid_array(&big));
    }
}
