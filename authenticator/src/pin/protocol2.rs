//! PIN/UV auth protocol 2 (CTAP 2.1 §6.5.7): HKDF-SHA-256 splits the ECDH
//! secret into an HMAC key and an AES key, AES-256-CBC carries a random IV
//! in front of the ciphertext, and MACs are the full 32-byte HMAC-SHA-256.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::primitives::cbc_blocks::{self, BLOCK};
use super::primitives::hmac_sha256;
use crate::status::CtapError;

const MAC_LEN: usize = 32;
const HMAC_KEY_INFO: &[u8] = b"CTAP2 HMAC key";
const AES_KEY_INFO: &[u8] = b"CTAP2 AES key";

/// `kdf(Z) = HKDF-SHA-256(salt = 32 zero bytes, Z, L = 32, "CTAP2 HMAC key")
/// || HKDF-SHA-256(salt = 32 zero bytes, Z, L = 32, "CTAP2 AES key")`.
pub(crate) fn kdf(z: &[u8]) -> Zeroizing<Vec<u8>> {
    let hkdf = Hkdf::<Sha256>::new(Some(&[0u8; 32]), z);
    let mut out = Zeroizing::new(vec![0u8; 64]);
    let (hmac_key, aes_key) = out.split_at_mut(32);
    // 32-byte outputs are far below HKDF's 255 × 32 limit: never fails.
    let _ = hkdf.expand(HMAC_KEY_INFO, hmac_key);
    let _ = hkdf.expand(AES_KEY_INFO, aes_key);
    out
}

/// The AES half of a shared secret.
fn aes_key(key: &[u8]) -> Result<&[u8], CtapError> {
    key.get(32..64).ok_or(CtapError::Other)
}

/// `encrypt`: `iv || AES-256-CBC(aesKey, iv, plaintext)`.
pub(crate) fn encrypt(key: &[u8], iv: &[u8; 16], plaintext: &[u8]) -> Result<Vec<u8>, CtapError> {
    let mut body = plaintext.to_vec();
    cbc_blocks::encrypt(aes_key(key)?, iv, &mut body)?;
    Ok([iv.as_slice(), &body].concat())
}

/// `decrypt`: "If ciphertext is less than 16 bytes in length, return an
/// error"; the rest must be whole blocks.
pub(crate) fn decrypt(key: &[u8], ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, CtapError> {
    let (iv, body) = ciphertext
        .split_at_checked(BLOCK)
        .ok_or(CtapError::InvalidLength)?;
    let mut out = Zeroizing::new(body.to_vec());
    cbc_blocks::decrypt(aes_key(key)?, iv, &mut out)?;
    Ok(out)
}

/// `authenticate`: HMAC-SHA-256 keyed by the first 32 bytes of `key` (the
/// HMAC half of a shared secret, or a whole 32-byte pinUvAuthToken). The
/// platform's side: tests only.
#[cfg(any(test, feature = "testing"))]
pub(crate) fn authenticate(key: &[u8], message: &[u8]) -> Vec<u8> {
    mac(key, message).finalize().into_bytes().to_vec()
}

/// Constant time; only a full 32-byte signature can verify.
pub(crate) fn verify(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    signature.len() == MAC_LEN && mac(key, message).verify_slice(signature).is_ok()
}

fn mac(key: &[u8], message: &[u8]) -> Hmac<Sha256> {
    hmac_sha256(key.get(..32).unwrap_or(key), message)
}

#[cfg(test)]
mod tests {
    use hmac::KeyInit;

    use super::*;

    /// RFC 5869 by hand (extract, then one expand block): the KDF is the
    /// standard HKDF with a 32-zero-byte salt, as platforms compute it.
    #[test]
    fn kdf_is_hkdf_sha256_with_zero_salt() {
        let z = [0x5A; 32];
        let hmac = |key: &[u8], msg: &[u8]| {
            let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        };
        let prk = hmac(&[0; 32], &z);
        let hmac_key = hmac(&prk, b"CTAP2 HMAC key\x01");
        let aes_key = hmac(&prk, b"CTAP2 AES key\x01");
        assert_eq!(kdf(&z).as_slice(), [hmac_key, aes_key].concat().as_slice());
    }

    #[test]
    fn kdf_splits_into_distinct_keys() {
        let k = kdf(&[3; 32]);
        assert_eq!(k.len(), 64);
        assert_ne!(k[..32], k[32..]);
        assert_eq!(kdf(&[3; 32]).as_slice(), k.as_slice());
    }

    #[test]
    fn encrypt_prefixes_iv_and_round_trips() {
        let key = kdf(&[4; 32]);
        let ct = encrypt(&key, &[9; 16], &[5; 64]).unwrap();
        assert_eq!(ct.len(), 80);
        assert_eq!(ct[..16], [9; 16]);
        assert_eq!(decrypt(&key, &ct).unwrap().as_slice(), &[5; 64]);
        assert_ne!(encrypt(&key, &[8; 16], &[5; 64]).unwrap()[16..], ct[16..]);
        assert_eq!(
            decrypt(&key, &ct[..15]).unwrap_err(),
            CtapError::InvalidLength
        );
        assert_eq!(
            decrypt(&key, &ct[..20]).unwrap_err(),
            CtapError::InvalidLength
        );
        // Only the IV: an empty plaintext.
        assert!(decrypt(&key, &ct[..16]).unwrap().is_empty());
    }

    #[test]
    fn mac_uses_the_hmac_half_and_is_32_bytes() {
        let key = kdf(&[4; 32]);
        let tag = authenticate(&key, b"m");
        assert_eq!(tag.len(), 32);
        assert_eq!(tag, authenticate(&key[..32], b"m"));
        assert!(verify(&key, b"m", &tag));
        assert!(!verify(&key, b"m", &tag[..16]));
        assert!(!verify(&key, b"n", &tag));
    }
}
