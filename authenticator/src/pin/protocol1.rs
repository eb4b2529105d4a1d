//! PIN/UV auth protocol 1 (CTAP 2.1 §6.5.6): shared secret SHA-256(Z),
//! AES-256-CBC with a zero IV, HMAC-SHA-256 truncated to 16 bytes.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::primitives::{cbc_blocks, hmac_sha256};
use crate::status::CtapError;

/// §6.5.6 `authenticate`: LEFT(HMAC-SHA-256(key, message), 16).
const MAC_LEN: usize = 16;
const ZERO_IV: [u8; 16] = [0; 16];

/// `kdf(Z) = SHA-256(Z)`.
pub(crate) fn kdf(z: &[u8]) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(Sha256::digest(z).to_vec())
}

pub(crate) fn encrypt(key: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CtapError> {
    let mut out = plaintext.to_vec();
    cbc_blocks::encrypt(key, &ZERO_IV, &mut out)?;
    Ok(out)
}

/// "If the size of ciphertext is not a multiple of the AES block length,
/// return error."
pub(crate) fn decrypt(key: &[u8], ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, CtapError> {
    let mut out = Zeroizing::new(ciphertext.to_vec());
    cbc_blocks::decrypt(key, &ZERO_IV, &mut out)?;
    Ok(out)
}

/// The platform's side of §6.5.6 `authenticate`: tests only.
#[cfg(any(test, feature = "testing"))]
pub(crate) fn authenticate(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut full = mac(key, message).finalize().into_bytes().to_vec();
    full.truncate(MAC_LEN);
    full
}

/// Constant time; a signature of any other length than 16 fails.
pub(crate) fn verify(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    signature.len() == MAC_LEN && mac(key, message).verify_truncated_left(signature).is_ok()
}

fn mac(key: &[u8], message: &[u8]) -> Hmac<Sha256> {
    hmac_sha256(key, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypt_decrypt_round_trip_and_block_rule() {
        let key = kdf(b"z");
        let ct = encrypt(&key, &[7; 32]).unwrap();
        assert_eq!(ct.len(), 32);
        assert_ne!(ct, vec![7; 32]);
        assert_eq!(decrypt(&key, &ct).unwrap().as_slice(), &[7; 32]);
        // Zero IV: deterministic.
        assert_eq!(encrypt(&key, &[7; 32]).unwrap(), ct);
        assert_eq!(
            decrypt(&key, &ct[..31]).unwrap_err(),
            CtapError::InvalidLength
        );
    }

    #[test]
    fn kdf_is_sha256_and_cbc_iv_is_zero() {
        use aes::Aes256;
        use cbc::cipher::{BlockCipherEncrypt, KeyInit as _};
        let key = kdf(b"z");
        assert_eq!(key.as_slice(), Sha256::digest(b"z").as_slice());
        // CBC with a zero IV on one block is plain AES on that block.
        let aes = Aes256::new_from_slice(&key).unwrap();
        let mut block = [3u8; 16].into();
        aes.encrypt_block(&mut block);
        assert_eq!(encrypt(&key, &[3; 16]).unwrap(), block.to_vec());
    }

    #[test]
    fn mac_is_16_bytes_and_verify_is_exact() {
        let key = [1u8; 32];
        let tag = authenticate(&key, b"msg");
        assert_eq!(tag.len(), 16);
        assert!(verify(&key, b"msg", &tag));
        assert!(!verify(&key, b"msh", &tag));
        assert!(!verify(&key, b"msg", &tag[..15]));
        assert!(!verify(&key, b"msg", &[]));
        let full = mac(&key, b"msg").finalize().into_bytes().to_vec();
        assert!(!verify(&key, b"msg", &full), "32 bytes is not protocol 1");
    }
}
