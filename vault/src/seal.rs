//! AES-256-GCM sealing: the data key under the KEK, and the body under the data key.
//!
//! Implements FORMAT.md "Encryption" (NIST SP 800-38D). Every seal draws a fresh random 96-bit
//! nonce from the OS; with random nonces SP 800-38D §8.3 bounds one key to 2^32 invocations,
//! and a vault performs one per write, so the bound is far away (see FORMAT.md, "Nonces").
//! Every authentication failure maps to the single opaque [`Error::WrongPassphraseOrCorrupt`].

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit, Nonce};
use zeroize::Zeroizing;

use crate::Error;
use crate::format::{DATA_KEY_LEN, NONCE_LEN, TAG_LEN, WRAPPED_KEY_LEN};
use crate::kdf::Kek;

/// The random per-vault key that encrypts the body; zeroed on drop.
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

fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(key.into())
}

/// Seals the data key under the KEK. Returns the nonce and ciphertext‖tag.
pub(crate) fn wrap_key(
    kek: &Kek,
    data_key: &DataKey,
    aad: &[u8],
) -> Result<([u8; NONCE_LEN], [u8; WRAPPED_KEY_LEN]), Error> {
    let nonce: [u8; NONCE_LEN] = random()?;
    let mut wrapped = [0u8; WRAPPED_KEY_LEN];
    let (body, tag_out) = wrapped.split_at_mut(DATA_KEY_LEN);
    body.copy_from_slice(data_key.as_slice());
    let tag = cipher(kek)
        .encrypt_inout_detached(&Nonce::<Aes256Gcm>::from(nonce), aad, body.into())
        .map_err(|_| Error::Malformed("key wrap failed"))?;
    tag_out.copy_from_slice(tag.as_slice());
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
    let tag: &[u8; TAG_LEN] = tag
        .try_into()
        .map_err(|_| Error::WrongPassphraseOrCorrupt)?;
    cipher(kek)
        .decrypt_inout_detached(
            &Nonce::<Aes256Gcm>::from(*nonce),
            aad,
            key.as_mut_slice().into(),
            tag.into(),
        )
        .map_err(|_| Error::WrongPassphraseOrCorrupt)?;
    Ok(key)
}

/// Encrypts the body plaintext in place (it becomes ciphertext‖tag) under a fresh nonce.
pub(crate) fn seal_body(
    data_key: &DataKey,
    aad: &[u8],
    mut plaintext: Zeroizing<Vec<u8>>,
) -> Result<([u8; NONCE_LEN], Vec<u8>), Error> {
    let nonce: [u8; NONCE_LEN] = random()?;
    cipher(data_key)
        .encrypt_in_place(&Nonce::<Aes256Gcm>::from(nonce), aad, &mut *plaintext)
        .map_err(|_| Error::Malformed("body encryption failed"))?;
    // Now ciphertext: take it out without a copy (the Zeroizing wrapper is left empty).
    Ok((nonce, std::mem::take(&mut *plaintext)))
}

/// Decrypts and authenticates the body. The plaintext is zeroed when dropped.
pub(crate) fn open_body(
    data_key: &DataKey,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut buf = Zeroizing::new(ciphertext.to_vec());
    cipher(data_key)
        .decrypt_in_place(&Nonce::<Aes256Gcm>::from(*nonce), aad, &mut *buf)
        .map_err(|_| Error::WrongPassphraseOrCorrupt)?;
    Ok(buf)
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
    fn body_round_trip_fresh_nonces_and_binding() {
        let dk = new_data_key().unwrap();
        let pt = || Zeroizing::new(b"generation and records".to_vec());
        let (n1, c1) = seal_body(&dk, b"aad", pt()).unwrap();
        let (n2, c2) = seal_body(&dk, b"aad", pt()).unwrap();
        assert_ne!(n1, n2, "every seal draws a fresh nonce");
        assert_ne!(c1, c2);
        assert_eq!(c1.len(), pt().len() + TAG_LEN);
        assert_eq!(
            open_body(&dk, &n1, b"aad", &c1).unwrap().as_slice(),
            pt().as_slice()
        );
        assert!(matches!(
            open_body(&dk, &n1, b"aaD", &c1),
            Err(Error::WrongPassphraseOrCorrupt)
        ));
        let mut flipped = c1.clone();
        flipped[3] ^= 1;
        assert!(matches!(
            open_body(&dk, &n1, b"aad", &flipped),
            Err(Error::WrongPassphraseOrCorrupt)
        ));
        let other = new_data_key().unwrap();
        assert!(matches!(
            open_body(&other, &n1, b"aad", &c1),
            Err(Error::WrongPassphraseOrCorrupt)
        ));
    }
}
