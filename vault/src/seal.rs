//! AES-256-GCM sealing: the data key under the KEK, and records (or a backup) under a key.
//!
//! Implements FORMAT.md "Cryptography" (NIST SP 800-38D). Every seal draws a fresh random 96-bit
//! nonce from the OS; SP 800-38D §8.3 bounds one key to 2^32 random-nonce invocations, far above
//! what a vault performs (FORMAT.md "Cryptography"). Every authentication failure maps to one opaque
//! error chosen by the caller.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit, Nonce, Tag};
use zeroize::Zeroizing;

use crate::Error;
use crate::header::{DATA_KEY_LEN, NONCE_LEN, TAG_LEN, WRAPPED_KEY_LEN};
use crate::kdf::Kek;

/// The random per-vault key that encrypts the records; zeroed on drop.
pub(crate) type DataKey = Zeroizing<[u8; DATA_KEY_LEN]>;

/// `N` bytes from the operating system's CSPRNG.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| Error::Io(std::io::Error::other(e)))?;
    Ok(out)
}

/// A fresh data key, generated straight into zeroizing memory.
pub(crate) fn new_data_key() -> Result<DataKey, Error> {
    let mut key = Zeroizing::new([0u8; DATA_KEY_LEN]);
    getrandom::fill(key.as_mut_slice()).map_err(|e| Error::Io(std::io::Error::other(e)))?;
    Ok(key)
}

/// An expanded AES-256-GCM key (round keys are zeroed on drop by the `zeroize` feature).
pub(crate) fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(key.into())
}

/// Encrypts `buf` in place under a fresh random nonce; returns the nonce and the tag.
pub(crate) fn seal_detached(
    cipher: &Aes256Gcm,
    aad: &[u8],
    buf: &mut [u8],
) -> Result<([u8; NONCE_LEN], [u8; TAG_LEN]), Error> {
    let nonce: [u8; NONCE_LEN] = random()?;
    let tag = seal_with_nonce(cipher, &nonce, aad, buf)?;
    Ok((nonce, tag))
}

/// Encrypts `buf` in place under `nonce`, which the caller drew fresh; returns the tag.
pub(crate) fn seal_with_nonce(
    cipher: &Aes256Gcm,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
) -> Result<[u8; TAG_LEN], Error> {
    let tag = cipher
        .encrypt_inout_detached(&Nonce::<Aes256Gcm>::from(*nonce), aad, buf.into())
        .map_err(|_| Error::Malformed("encryption failed"))?;
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(tag.as_slice());
    Ok(out)
}

/// Decrypts `buf` in place and checks `tag`; any failure is `WrongPassphraseOrCorrupt` (the
/// caller re-maps it where the contract wants `Corrupt`).
pub(crate) fn open_detached(
    cipher: &Aes256Gcm,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<(), Error> {
    cipher
        .decrypt_inout_detached(
            &Nonce::<Aes256Gcm>::from(*nonce),
            aad,
            buf.into(),
            &Tag::<Aes256Gcm>::from(*tag),
        )
        .map_err(|_| Error::WrongPassphraseOrCorrupt)
}

/// Decrypts `ciphertext‖tag` in place; returns the plaintext part of `buf`.
pub(crate) fn open_in_place<'a>(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &'a mut [u8],
) -> Result<&'a [u8], Error> {
    let split = buf
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(Error::WrongPassphraseOrCorrupt)?;
    let (body, tag) = buf
        .split_at_mut_checked(split)
        .ok_or(Error::WrongPassphraseOrCorrupt)?;
    let tag: [u8; TAG_LEN] = (&*tag)
        .try_into()
        .map_err(|_| Error::WrongPassphraseOrCorrupt)?;
    open_detached(&cipher(key), nonce, aad, body, &tag)?;
    Ok(body)
}

/// Seals the data key under the KEK. Returns the nonce and ciphertext‖tag.
pub(crate) fn wrap_key(
    kek: &Kek,
    data_key: &DataKey,
    aad: &[u8],
) -> Result<([u8; NONCE_LEN], [u8; WRAPPED_KEY_LEN]), Error> {
    let mut body = Zeroizing::new(**data_key);
    let (nonce, tag) = seal_detached(&cipher(kek), aad, body.as_mut_slice())?;
    let mut wrapped = [0u8; WRAPPED_KEY_LEN];
    let (ct, tag_out) = wrapped.split_at_mut(DATA_KEY_LEN);
    ct.copy_from_slice(body.as_slice());
    tag_out.copy_from_slice(&tag);
    Ok((nonce, wrapped))
}

/// Opens the wrapped data key. A wrong passphrase (hence wrong KEK) fails here.
pub(crate) fn unwrap_key(
    kek: &Kek,
    nonce: &[u8; NONCE_LEN],
    wrapped: &[u8; WRAPPED_KEY_LEN],
    aad: &[u8],
) -> Result<DataKey, Error> {
    let mut key = Zeroizing::new([0u8; DATA_KEY_LEN]);
    let (body, tag) = wrapped.split_at(DATA_KEY_LEN);
    key.copy_from_slice(body);
    let tag: [u8; TAG_LEN] = tag
        .try_into()
        .map_err(|_| Error::WrongPassphraseOrCorrupt)?;
    open_detached(&cipher(kek), nonce, aad, key.as_mut_slice(), &tag)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek(b: u8) -> Kek {
        Zeroizing::new([b; 32])
    }

    #[test]
    fn key_wrap_round_trip_and_binding() {
        let dk = new_data_key().unwrap();
        let (nonce, wrapped) = wrap_key(&kek(1), &dk, b"header").unwrap();
        assert_ne!(
            &wrapped[..32],
            dk.as_slice(),
            "wrapped key must not be the key"
        );
        let back = unwrap_key(&kek(1), &nonce, &wrapped, b"header").unwrap();
        assert_eq!(*back, *dk);
        let wrong = |r: Result<DataKey, Error>| matches!(r, Err(Error::WrongPassphraseOrCorrupt));
        assert!(wrong(unwrap_key(&kek(2), &nonce, &wrapped, b"header")));
        assert!(wrong(unwrap_key(&kek(1), &nonce, &wrapped, b"headeR")));
        let mut bad_nonce = nonce;
        bad_nonce[0] ^= 1;
        assert!(wrong(unwrap_key(&kek(1), &bad_nonce, &wrapped, b"header")));
        for i in 0..WRAPPED_KEY_LEN {
            let mut w = wrapped;
            w[i] ^= 0x80;
            assert!(
                wrong(unwrap_key(&kek(1), &nonce, &w, b"header")),
                "byte {i}"
            );
        }
    }

    #[test]
    fn detached_round_trip_fresh_nonces_and_binding() {
        let key = [5u8; 32];
        let c = cipher(&key);
        let mut a = *b"generation and records";
        let mut b = a;
        let (n1, t1) = seal_detached(&c, b"aad", &mut a).unwrap();
        let (n2, _) = seal_detached(&c, b"aad", &mut b).unwrap();
        assert_ne!(n1, n2, "every seal draws a fresh nonce");
        assert_ne!(a, b);
        let mut joined = a.to_vec();
        joined.extend_from_slice(&t1);
        let mut copy = joined.clone();
        assert_eq!(
            open_in_place(&key, &n1, b"aad", &mut copy).unwrap(),
            b"generation and records"
        );
        let mut copy = joined.clone();
        assert!(open_in_place(&key, &n1, b"aaD", &mut copy).is_err());
        let mut copy = joined.clone();
        copy[3] ^= 1;
        assert!(open_in_place(&key, &n1, b"aad", &mut copy).is_err());
        let mut copy = joined;
        assert!(open_in_place(&[6u8; 32], &n1, b"aad", &mut copy).is_err());
        assert!(open_in_place(&key, &n1, b"aad", &mut [0u8; 15]).is_err());
    }
}
