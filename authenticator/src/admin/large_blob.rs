//! A discoverable credential's large blob, set and read from the host side
//! (the test lab's Add Credential `largeBlob`, WebAuthn Level 3 §11.4, and
//! Get Credentials). The blob goes where a platform would put it (CTAP 2.1
//! §6.10.3 "Large, per-credential blobs"): one entry of the serialized
//! large-blob array, `{1: ciphertext, 2: nonce, 3: origSize}`, encrypted
//! with AES-256-GCM under the credential's largeBlobKey with the associated
//! data `"blob" ‖ uint64LE(origSize)`. The plaintext is the blob compressed
//! with DEFLATE (RFC 1951), which the caller does: the key stays free of a
//! compressor it never needs itself.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use crate::cbor::{self, Value};
use crate::env::{Store, StoreChange};
use crate::error::Error;
use crate::large_blob_array::{
    HASH_LEN, MAX_SERIALIZED_LARGE_BLOB_ARRAY, initial_array, is_valid_array, truncated_hash,
};
use crate::record::{self, CredentialRecord};
use crate::status::CtapError;
use crate::store_keys::LARGE_BLOB_ARRAY;

const NONCE_LEN: usize = 12;

/// A blob as stored: DEFLATE-compressed, and its size before compression.
#[derive(Clone, PartialEq, Eq)]
pub struct CompressedBlob {
    pub compressed: Vec<u8>,
    pub orig_size: u64,
}

impl core::fmt::Debug for CompressedBlob {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CompressedBlob")
            .field("compressed", &self.compressed.len())
            .field("orig_size", &self.orig_size)
            .finish()
    }
}

/// Gives the discoverable credential `credential_id` this blob, replacing
/// any it had: a largeBlobKey from `random` if it has none yet, the array's
/// entries under that key dropped, the new entry appended. One atomic
/// write; CTAP2_ERR_NO_CREDENTIALS for no such credential,
/// CTAP2_ERR_LARGE_BLOB_STORAGE_FULL past maxSerializedLargeBlobArray.
pub fn set_large_blob<S: Store>(
    store: &mut S,
    credential_id: &[u8],
    blob: &CompressedBlob,
    random: &mut dyn FnMut(&mut [u8]),
) -> Result<(), Error> {
    let mut found = find(store, credential_id)?.ok_or(CtapError::NoCredentials)?;
    let key = match found.large_blob_key {
        Some(key) => key,
        None => {
            let mut key = [0u8; 32];
            random(&mut key);
            found.large_blob_key = Some(key);
            key
        }
    };
    let key = Zeroizing::new(key);
    let mut entries: Vec<Value> = entries(store)?
        .into_iter()
        .filter(|entry| open(&key, entry).is_none())
        .collect();
    let mut nonce = [0u8; NONCE_LEN];
    random(&mut nonce);
    let ciphertext = cipher(&key)?
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &blob.compressed,
                aad: &associated_data(blob.orig_size),
            },
        )
        .map_err(|_| CtapError::Other)?;
    entries.push(Value::int_map(vec![
        (0x01, Value::Bytes(ciphertext)),
        (0x02, Value::bytes(&nonce)),
        (0x03, Value::Unsigned(blob.orig_size)),
    ]));
    let mut array = cbor::encode(&Value::Array(entries));
    let hash = truncated_hash(&array);
    array.extend_from_slice(&hash);
    if array.len() > MAX_SERIALIZED_LARGE_BLOB_ARRAY {
        return Err(CtapError::LargeBlobStorageFull.into());
    }
    let hash = crate::auth_data::rp_id_hash(&found.rp_id);
    store.apply(&[
        StoreChange::Put(LARGE_BLOB_ARRAY.to_vec(), array),
        StoreChange::Put(
            record::key(&hash, &found.credential_id),
            found.encode().to_vec(),
        ),
    ])?;
    Ok(())
}

/// The blob of the discoverable credential `credential_id`, if the array
/// holds one under its largeBlobKey.
pub fn large_blob<S: Store>(
    store: &S,
    credential_id: &[u8],
) -> Result<Option<CompressedBlob>, Error> {
    let Some(key) = find(store, credential_id)?.and_then(|r| r.large_blob_key) else {
        return Ok(None);
    };
    let key = Zeroizing::new(key);
    Ok(entries(store)?.iter().find_map(|entry| open(&key, entry)))
}

fn find<S: Store>(store: &S, credential_id: &[u8]) -> Result<Option<CredentialRecord>, Error> {
    Ok(record::all(store)?
        .into_iter()
        .find(|r| r.credential_id == credential_id))
}

/// The stored array's entries; none for the initial array, and none for an
/// array that is not one (a platform may store anything it likes, §6.10.2).
fn entries<S: Store>(store: &S) -> Result<Vec<Value>, Error> {
    let array = store
        .get(LARGE_BLOB_ARRAY)?
        .map_or_else(initial_array, |a| a.to_vec());
    if !is_valid_array(&array) {
        return Ok(Vec::new());
    }
    let data = array.get(..array.len() - HASH_LEN).unwrap_or_default();
    Ok(match cbor::decode(data) {
        Ok(Value::Array(entries)) => entries,
        _ => Vec::new(),
    })
}

/// The entry's blob if it opens under `key`.
fn open(key: &[u8; 32], entry: &Value) -> Option<CompressedBlob> {
    let ciphertext = entry.get(&Value::Unsigned(0x01))?;
    let nonce = entry.get(&Value::Unsigned(0x02))?;
    let orig_size = entry.get(&Value::Unsigned(0x03))?;
    let (Value::Bytes(ciphertext), Value::Bytes(nonce), Value::Unsigned(orig_size)) =
        (ciphertext, nonce, orig_size)
    else {
        return None;
    };
    let nonce: [u8; NONCE_LEN] = nonce.as_slice().try_into().ok()?;
    let compressed = cipher(key)
        .ok()?
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad: &associated_data(*orig_size),
            },
        )
        .ok()?;
    Some(CompressedBlob {
        compressed,
        orig_size: *orig_size,
    })
}

/// §6.10.3: `"blob" ‖ uint64LE(origSize)`.
fn associated_data(orig_size: u64) -> [u8; 12] {
    let mut ad = [0u8; 12];
    let (label, size) = ad.split_at_mut(4);
    label.copy_from_slice(b"blob");
    size.copy_from_slice(&orig_size.to_le_bytes());
    ad
}

fn cipher(key: &[u8; 32]) -> Result<Aes256Gcm, CtapError> {
    Aes256Gcm::new_from_slice(key).map_err(|_| CtapError::Other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryStore, TestEnv};

    #[test]
    fn set_read_replace_and_keep_other_entries() {
        let mut env = TestEnv::new(3);
        let mut store = MemoryStore::new();
        let a = crate::testing::credential_record("rp", b"u", b"one", 1);
        let b = crate::record::CredentialRecord {
            large_blob_key: Some([7; 32]),
            ..crate::testing::credential_record("rp", b"v", b"two", 2)
        };
        for r in [&a, &b] {
            let hash = crate::auth_data::rp_id_hash(&r.rp_id);
            record::save(&mut store, &hash, r).unwrap();
        }
        let mut random = |buf: &mut [u8]| crate::env::Env::fill_random(&mut env, buf);
        let blob = |text: &[u8]| CompressedBlob {
            compressed: text.to_vec(),
            orig_size: 99,
        };
        assert_eq!(
            set_large_blob(&mut store, b"none", &blob(b"x"), &mut random)
                .unwrap_err()
                .status(),
            CtapError::NoCredentials
        );
        set_large_blob(&mut store, b"one", &blob(b"first"), &mut random).unwrap();
        set_large_blob(&mut store, b"two", &blob(b"second"), &mut random).unwrap();
        set_large_blob(&mut store, b"one", &blob(b"third"), &mut random).unwrap();
        assert_eq!(large_blob(&store, b"one").unwrap(), Some(blob(b"third")));
        assert_eq!(large_blob(&store, b"two").unwrap(), Some(blob(b"second")));
        assert_eq!(entries(&store).unwrap().len(), 2, "the old entry went");
        let array = store.get(LARGE_BLOB_ARRAY).unwrap().unwrap();
        assert!(is_valid_array(&array));
    }
}
