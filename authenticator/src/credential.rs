//! Credential key pairs and credential IDs (CTAP 2.1 §6.1.2 steps 16–18,
//! WebAuthn §6.2 "credential ID").
//!
//! A credential ID carries its own private key, wrapped with AES-256-GCM
//! under the device wrap key ([`crate::secrets`]), so non-discoverable
//! credentials need no storage at all:
//!
//! ```text
//! version (1) = 0x01 || nonce (12, random) || AES-256-GCM(
//!     key = device wrap key,
//!     aad = version || SHA-256(rp id),
//!     plaintext = P-256 private scalar (32) || flags (1: bit 0 = discoverable)
//! ) (33 + 16-byte tag)
//! ```
//!
//! Binding the rpIdHash as associated data makes an ID unwrap only for the
//! RP it was made for: presented to another RP it is just unknown. Random
//! 96-bit nonces stay far below the GCM birthday bound for any realistic
//! number of credentials.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use p256::SecretKey;
use p256::ecdsa::SigningKey;
use zeroize::{Zeroize, Zeroizing};

use crate::env::Env;
use crate::secrets::DeviceSecrets;
use crate::status::CtapError;

const VERSION: u8 = 0x01;
const NONCE_LEN: usize = 12;
const PLAINTEXT_LEN: usize = 32 + 1;
const TAG_LEN: usize = 16;
const FLAG_DISCOVERABLE: u8 = 0x01;
/// The length of every credential ID we issue (getInfo maxCredentialIdLength).
pub const CREDENTIAL_ID_LEN: usize = 1 + NONCE_LEN + PLAINTEXT_LEN + TAG_LEN;
/// Out-of-range scalars are astronomically rare (< 2^-32 each); a stuck RNG
/// is not, and must fail rather than loop forever.
const MAX_KEYGEN_ATTEMPTS: usize = 64;

/// A credential ID of ours, opened for one RP.
#[derive(Debug)]
pub(crate) struct Unwrapped {
    /// Only the scalar: deriving the public key costs a base-point
    /// multiplication, which a username-less lookup must not pay for every
    /// account of the RP. [`Unwrapped::signing_key`] pays it for the one used.
    pub(crate) key: SecretKey,
    pub(crate) discoverable: bool,
}

/// A new P-256 private key from the environment's RNG, retrying if the
/// 32 random bytes are zero or not below the group order.
pub(crate) fn generate_key<E: Env>(env: &mut E) -> Result<SigningKey, CtapError> {
    for _ in 0..MAX_KEYGEN_ATTEMPTS {
        let mut scalar = Zeroizing::new([0u8; 32]);
        env.fill_random(scalar.as_mut_slice());
        if let Ok(key) = SigningKey::from_slice(scalar.as_slice()) {
            return Ok(key);
        }
    }
    Err(CtapError::Other)
}

/// Wraps `key` into a new credential ID bound to `rp_id_hash`.
pub(crate) fn wrap<E: Env>(
    env: &mut E,
    secrets: &DeviceSecrets,
    rp_id_hash: &[u8; 32],
    key: &SigningKey,
    discoverable: bool,
) -> Result<Vec<u8>, CtapError> {
    let mut plaintext = Zeroizing::new([0u8; PLAINTEXT_LEN]);
    let (scalar, flags) = plaintext.split_at_mut(32);
    let mut key_bytes = key.to_bytes();
    scalar.copy_from_slice(&key_bytes);
    key_bytes.zeroize();
    if let Some(flags) = flags.first_mut() {
        *flags = if discoverable { FLAG_DISCOVERABLE } else { 0 };
    }
    let mut nonce = [0u8; NONCE_LEN];
    env.fill_random(&mut nonce);
    let aad = associated_data(rp_id_hash);
    let sealed = cipher(secrets)?
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext.as_slice(),
                aad: &aad,
            },
        )
        .map_err(|_| CtapError::Other)?;
    let mut id = Vec::with_capacity(CREDENTIAL_ID_LEN);
    id.push(VERSION);
    id.extend_from_slice(&nonce);
    id.extend_from_slice(&sealed);
    Ok(id)
}

/// Opens `id` if it is a credential ID of ours for `rp_id_hash`; `None` for
/// anything else (other authenticators' IDs, other RPs, garbage).
pub(crate) fn unwrap(
    secrets: &DeviceSecrets,
    rp_id_hash: &[u8; 32],
    id: &[u8],
) -> Option<Unwrapped> {
    if id.len() != CREDENTIAL_ID_LEN {
        return None;
    }
    let (version, rest) = id.split_first()?;
    if *version != VERSION {
        return None;
    }
    let (nonce, sealed) = rest.split_at_checked(NONCE_LEN)?;
    let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
    let aad = associated_data(rp_id_hash);
    let plaintext = Zeroizing::new(
        cipher(secrets)
            .ok()?
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .ok()?,
    );
    let (scalar, flags) = plaintext.split_at_checked(32)?;
    let discoverable = match flags {
        [0] => false,
        [FLAG_DISCOVERABLE] => true,
        _ => return None,
    };
    let key = SecretKey::from_slice(scalar).ok()?;
    Some(Unwrapped { key, discoverable })
}

impl Unwrapped {
    pub(crate) fn signing_key(&self) -> SigningKey {
        SigningKey::from(&self.key)
    }
}

fn associated_data(rp_id_hash: &[u8; 32]) -> [u8; 33] {
    let mut aad = [0u8; 33];
    let (version, hash) = aad.split_at_mut(1);
    version.copy_from_slice(&[VERSION]);
    hash.copy_from_slice(rp_id_hash);
    aad
}

fn cipher(secrets: &DeviceSecrets) -> Result<Aes256Gcm, CtapError> {
    Aes256Gcm::new_from_slice(secrets.wrap_key()).map_err(|_| CtapError::Other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestEnv;

    fn setup() -> (TestEnv, DeviceSecrets, SigningKey) {
        let mut env = TestEnv::new(7);
        let secrets = DeviceSecrets::load_or_create(&mut env).unwrap();
        let key = generate_key(&mut env).unwrap();
        (env, secrets, key)
    }

    #[test]
    fn round_trip_keeps_key_and_flag() {
        let (mut env, secrets, key) = setup();
        for discoverable in [false, true] {
            let id = wrap(&mut env, &secrets, &[1; 32], &key, discoverable).unwrap();
            assert_eq!(id.len(), CREDENTIAL_ID_LEN);
            let opened = unwrap(&secrets, &[1; 32], &id).unwrap();
            assert_eq!(opened.signing_key(), key);
            assert_eq!(opened.discoverable, discoverable);
        }
    }

    #[test]
    fn bound_to_rp_and_device_and_tamper_evident() {
        let (mut env, secrets, key) = setup();
        let id = wrap(&mut env, &secrets, &[1; 32], &key, false).unwrap();
        assert!(unwrap(&secrets, &[2; 32], &id).is_none(), "other RP");
        let mut other_env = TestEnv::new(8);
        let other = DeviceSecrets::load_or_create(&mut other_env).unwrap();
        assert!(unwrap(&other, &[1; 32], &id).is_none(), "other device");
        for i in 0..id.len() {
            let mut bad = id.clone();
            bad[i] ^= 0x01;
            assert!(
                unwrap(&secrets, &[1; 32], &bad).is_none(),
                "bit flip at {i}"
            );
        }
        assert!(unwrap(&secrets, &[1; 32], &id[..id.len() - 1]).is_none());
        assert!(unwrap(&secrets, &[1; 32], &[]).is_none());
    }

    #[test]
    fn two_wraps_of_one_key_differ() {
        let (mut env, secrets, key) = setup();
        let a = wrap(&mut env, &secrets, &[1; 32], &key, false).unwrap();
        let b = wrap(&mut env, &secrets, &[1; 32], &key, false).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn stuck_rng_fails_instead_of_looping() {
        let mut env = TestEnv::new(0);
        env.set_stuck_rng(Some(0x00));
        assert_eq!(generate_key(&mut env).unwrap_err(), CtapError::Other);
        // All-0xFF is above the P-256 group order: also refused.
        env.set_stuck_rng(Some(0xFF));
        assert_eq!(generate_key(&mut env).unwrap_err(), CtapError::Other);
    }
}
