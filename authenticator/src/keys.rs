//! Credential key pairs: ES256 (ECDSA on P-256 with SHA-256, COSE -7) and
//! EdDSA (pure Ed25519, COSE -8), their COSE_Key public keys (RFC 9053 §2.1,
//! §7.1–7.2; CTAP 2.1 §6.1.2 step 3 "first supported algorithm") and their
//! signatures (WebAuthn §6.3.3 step 11).
//!
//! A key holds only its 32 private bytes: for ES256 the scalar as a
//! [`p256::SecretKey`] (no public point), for Ed25519 the seed. Unwrapping a
//! credential ID therefore never pays a scalar multiplication; the public
//! key is computed only when a signature or a COSE key is asked for
//! (BENCHMARKS.md: deriving it per account made username-less getAssertion
//! 10× slower).

use core::fmt;

// ed25519-dalek and p256 share the `signature` crate: one import serves both.
use ecdsa::hazmat::sign_prehashed_rfc6979;
use ed25519_dalek::Signer as _;
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{NistP256, SecretKey};
use sha2::{Digest, Sha256};
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::cbor::Value;
use crate::env::Env;
use crate::status::CtapError;

/// Out-of-range P-256 scalars are astronomically rare (< 2^-32 each); a
/// stuck RNG is not, and must fail rather than loop forever.
const MAX_KEYGEN_ATTEMPTS: usize = 64;

/// The credential algorithms we support, by COSE identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i64)]
pub(crate) enum Algorithm {
    /// ECDSA P-256 SHA-256.
    Es256 = -7,
    /// Ed25519 (RFC 8032 pure EdDSA).
    EdDsa = -8,
}

/// Every supported algorithm, in our order of preference (getInfo 0x0A).
pub(crate) const SUPPORTED: [Algorithm; 2] = [Algorithm::Es256, Algorithm::EdDsa];

impl Algorithm {
    /// The COSE algorithm identifier.
    pub(crate) const fn cose(self) -> i64 {
        self as i64
    }

    pub(crate) fn from_cose(alg: i64) -> Option<Self> {
        SUPPORTED.into_iter().find(|a| a.cose() == alg)
    }
}

/// CTAP 2.1 §6.1.2 step 3: the first algorithm of pubKeyCredParams (in the
/// request's order) that we support; `None` means UNSUPPORTED_ALGORITHM.
/// The caller passes only the `alg` of entries whose type is "public-key".
pub(crate) fn choose(offered: &[i64]) -> Option<Algorithm> {
    offered.iter().find_map(|&alg| Algorithm::from_cose(alg))
}

/// getInfo `algorithms` (0x0A): `[{alg, type: "public-key"}, …]`.
pub(crate) fn algorithms_info() -> Value {
    Value::Array(
        SUPPORTED
            .iter()
            .map(|a| {
                Value::text_map(vec![
                    ("alg", Value::int(a.cose())),
                    ("type", Value::text("public-key")),
                ])
            })
            .collect(),
    )
}

/// A credential private key. Zeroized on drop; `Debug` shows only the
/// algorithm.
pub(crate) enum CredentialKey {
    /// The P-256 scalar (no public point computed).
    Es256(SecretKey),
    /// The Ed25519 seed (RFC 8032 §5.1.5 private key).
    EdDsa(Zeroizing<[u8; 32]>),
}

// Both variants wipe themselves on drop (SecretKey and Zeroizing do).
impl ZeroizeOnDrop for CredentialKey {}

impl fmt::Debug for CredentialKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CredentialKey::{:?}(..)", self.algorithm())
    }
}

impl CredentialKey {
    /// A new key from the environment's RNG. For ES256, 32 random bytes that
    /// are zero or not below the group order are redrawn.
    pub(crate) fn generate<E: Env>(env: &mut E, alg: Algorithm) -> Result<Self, CtapError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        for _ in 0..MAX_KEYGEN_ATTEMPTS {
            env.fill_random(bytes.as_mut_slice());
            if let Some(key) = Self::from_bytes(alg, &bytes) {
                return Ok(key);
            }
        }
        Err(CtapError::Other)
    }

    /// A key from its 32 private bytes; `None` for an invalid P-256 scalar.
    pub(crate) fn from_bytes(alg: Algorithm, bytes: &[u8; 32]) -> Option<Self> {
        match alg {
            Algorithm::Es256 => SecretKey::from_slice(bytes).ok().map(CredentialKey::Es256),
            Algorithm::EdDsa => Some(CredentialKey::EdDsa(Zeroizing::new(*bytes))),
        }
    }

    /// The 32 private bytes (scalar or seed), for wrapping into an ID.
    pub(crate) fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        match self {
            CredentialKey::Es256(key) => {
                let mut bytes = key.to_bytes();
                out.copy_from_slice(&bytes);
                zeroize::Zeroize::zeroize(bytes.as_mut_slice());
            }
            CredentialKey::EdDsa(seed) => out.copy_from_slice(seed.as_slice()),
        }
        out
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        match self {
            CredentialKey::Es256(_) => Algorithm::Es256,
            CredentialKey::EdDsa(_) => Algorithm::EdDsa,
        }
    }

    /// The canonical COSE_Key of the public key (keys in CTAP2 canonical
    /// order once encoded): EC2 `{1: 2, 3: -7, -1: 1 (P-256), -2: x, -3: y}`
    /// or OKP `{1: 1, 3: -8, -1: 6 (Ed25519), -2: x}`.
    pub(crate) fn cose_public_key(&self) -> Result<Value, CtapError> {
        match self {
            CredentialKey::Es256(key) => {
                let point = key.public_key().to_sec1_point(false);
                let x = point.x().ok_or(CtapError::Other)?;
                let y = point.y().ok_or(CtapError::Other)?;
                Ok(Value::Map(vec![
                    (Value::int(1), Value::int(2)),
                    (Value::int(3), Value::int(Algorithm::Es256.cose())),
                    (Value::int(-1), Value::int(1)),
                    (Value::int(-2), Value::bytes(x)),
                    (Value::int(-3), Value::bytes(y)),
                ]))
            }
            CredentialKey::EdDsa(seed) => {
                let public = ed25519_dalek::SigningKey::from_bytes(seed).verifying_key();
                Ok(Value::Map(vec![
                    (Value::int(1), Value::int(1)),
                    (Value::int(3), Value::int(Algorithm::EdDsa.cose())),
                    (Value::int(-1), Value::int(6)),
                    (Value::int(-2), Value::bytes(public.as_bytes())),
                ]))
            }
        }
    }

    /// Signs `message`: ES256 gives a DER ECDSA signature over
    /// SHA-256(message) with an RFC 6979 deterministic nonce; EdDSA gives the
    /// raw 64-byte Ed25519 signature of the message itself.
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            CredentialKey::Es256(key) => {
                // ECDSA over SHA-256 with the RFC 6979 nonce, as
                // `SigningKey::sign` computes it, but from the scalar alone:
                // building a `SigningKey` first derives the public key, a
                // second base-point multiplication that doubled the cost
                // (BENCHMARKS.md "Signing").
                let digest = Sha256::digest(message);
                let (signature, _) = sign_prehashed_rfc6979::<NistP256, Sha256>(
                    &key.to_nonzero_scalar(),
                    &digest,
                    &[],
                );
                signature.to_der().as_bytes().to_vec()
            }
            CredentialKey::EdDsa(seed) => ed25519_dalek::SigningKey::from_bytes(seed)
                .sign(message)
                .to_bytes()
                .to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbor;
    use crate::testing::TestEnv;
    use ed25519_dalek::Verifier as _;

    #[test]
    fn choose_honours_request_order_and_skips_unknown() {
        // §6.1.2 step 3: the first supported entry in the request's order.
        assert_eq!(choose(&[-7, -8]), Some(Algorithm::Es256));
        assert_eq!(choose(&[-8, -7]), Some(Algorithm::EdDsa));
        assert_eq!(choose(&[-257, -8, -7]), Some(Algorithm::EdDsa));
        assert_eq!(choose(&[-257, -37]), None);
        assert_eq!(choose(&[]), None);
    }

    #[test]
    fn algorithms_info_lists_both() {
        let info = algorithms_info();
        let Value::Array(entries) = info else {
            panic!("not an array")
        };
        let algs: Vec<_> = entries
            .iter()
            .map(|e| e.get(&Value::text("alg")).cloned())
            .collect();
        assert_eq!(algs, [Some(Value::int(-7)), Some(Value::int(-8))]);
    }

    #[test]
    fn es256_signs_verifiably_and_cose_is_canonical() {
        let mut env = TestEnv::new(3);
        let key = CredentialKey::generate(&mut env, Algorithm::Es256).unwrap();
        assert_eq!(key.algorithm(), Algorithm::Es256);
        let cose = key.cose_public_key().unwrap();
        let encoded = cbor::encode(&cose);
        // The canonical order of the EC2 keys: 1, 3, -1, -2, -3.
        assert_eq!(encoded[..7], [0xA5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01]);
        assert_eq!(cbor::decode(&encoded).unwrap(), cose);
        let x = match cose.get(&Value::int(-2)) {
            Some(Value::Bytes(x)) => x.clone(),
            _ => panic!("no x"),
        };
        let y = match cose.get(&Value::int(-3)) {
            Some(Value::Bytes(y)) => y.clone(),
            _ => panic!("no y"),
        };
        let sec1 = [&[0x04][..], &x, &y].concat();
        let verifier = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap();
        let sig = key.sign(b"message");
        let der = p256::ecdsa::DerSignature::from_bytes(&sig).unwrap();
        verifier.verify(b"message", &der).unwrap();
        assert!(verifier.verify(b"massage", &der).is_err());
        // RFC 6979: deterministic, and the very signature the p256 crate's
        // own SigningKey gives (signing from the scalar changes no byte).
        assert_eq!(key.sign(b"message"), sig);
        let CredentialKey::Es256(secret) = &key else {
            panic!("not ES256")
        };
        let reference: p256::ecdsa::DerSignature =
            p256::ecdsa::SigningKey::from(secret).sign(b"message");
        assert_eq!(sig, reference.as_bytes());
    }

    #[test]
    fn eddsa_signs_verifiably_and_cose_is_canonical() {
        let mut env = TestEnv::new(4);
        let key = CredentialKey::generate(&mut env, Algorithm::EdDsa).unwrap();
        assert_eq!(key.algorithm(), Algorithm::EdDsa);
        let cose = key.cose_public_key().unwrap();
        let encoded = cbor::encode(&cose);
        // {1: 1, 3: -8, -1: 6, -2: x(32)}
        assert_eq!(
            encoded[..10],
            [0xA4, 0x01, 0x01, 0x03, 0x27, 0x20, 0x06, 0x21, 0x58, 0x20]
        );
        assert_eq!(encoded.len(), 10 + 32);
        let x: [u8; 32] = encoded[10..].try_into().unwrap();
        let verifier = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
        let sig = key.sign(b"message");
        assert_eq!(sig.len(), 64);
        let sig = ed25519_dalek::Signature::from_slice(&sig).unwrap();
        verifier.verify(b"message", &sig).unwrap();
        assert!(verifier.verify(b"massage", &sig).is_err());
    }

    #[test]
    fn bytes_round_trip_and_debug_redacts() {
        let mut env = TestEnv::new(5);
        for alg in SUPPORTED {
            let key = CredentialKey::generate(&mut env, alg).unwrap();
            let again = CredentialKey::from_bytes(alg, &key.to_bytes()).unwrap();
            assert_eq!(again.sign(b"m"), key.sign(b"m"));
            assert_eq!(format!("{key:?}"), format!("CredentialKey::{alg:?}(..)"));
        }
        assert!(CredentialKey::from_bytes(Algorithm::Es256, &[0; 32]).is_none());
        assert!(CredentialKey::from_bytes(Algorithm::Es256, &[0xFF; 32]).is_none());
    }

    #[test]
    fn stuck_rng_fails_es256_instead_of_looping() {
        let mut env = TestEnv::new(0);
        env.set_stuck_rng(Some(0x00));
        assert_eq!(
            CredentialKey::generate(&mut env, Algorithm::Es256).unwrap_err(),
            CtapError::Other
        );
        env.set_stuck_rng(Some(0xFF));
        assert_eq!(
            CredentialKey::generate(&mut env, Algorithm::Es256).unwrap_err(),
            CtapError::Other
        );
    }
}
