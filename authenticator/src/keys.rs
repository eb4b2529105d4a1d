//! Credential key pairs: ES256 (ECDSA on P-256 with SHA-256, COSE -7), EdDSA
//! (pure Ed25519, COSE -8), ES384 (P-384 with SHA-384, -35), ES512 (P-521 with
//! SHA-512, -36), ES256K (secp256k1 with SHA-256, -47, RFC 8812 §3.2), RS256
//! and PS256 (RSA-2048, -257 and -37, RFC 8812 §2 and RFC 8230 §2) and
//! ML-DSA-44/65/87 (-48, -49, -50); their
//! COSE_Key public keys (RFC 9053 §2.1, §7.1–7.2; CTAP 2.1 §6.1.2 step 3 "first
//! supported algorithm") and their signatures (WebAuthn §6.3.3 step 11).
//!
//! A key holds only its private bytes: for the ECDSA curves the scalar as the
//! curve crate's `SecretKey` (no public point), for Ed25519 the seed. Unwrapping
//! a credential ID therefore never pays a scalar multiplication; the public
//! key is computed only when a signature or a COSE key is asked for
//! (BENCHMARKS.md: deriving it per account made username-less getAssertion
//! 10× slower).

use core::fmt;

mod post_quantum;
mod rsa;

pub use rsa::generate_primes as generate_rsa_primes;
pub(crate) use rsa::to_primes as rsa_primes;

use ml_dsa::{MlDsa44, MlDsa65, MlDsa87};
pub(crate) use post_quantum::signing_key as ml_dsa_signing_key;

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

/// The credential algorithms we support, by COSE identifier (IANA "COSE
/// Algorithms").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i64)]
pub enum Algorithm {
    /// ECDSA P-256 SHA-256.
    Es256 = -7,
    /// Ed25519 (RFC 8032 pure EdDSA).
    EdDsa = -8,
    /// ECDSA P-384 SHA-384.
    Es384 = -35,
    /// ECDSA P-521 SHA-512.
    Es512 = -36,
    /// ECDSA secp256k1 SHA-256 (RFC 8812).
    Es256K = -47,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8812 §2), 2048-bit keys.
    Rs256 = -257,
    /// RSASSA-PSS with SHA-256 (RFC 8230 §2), 2048-bit keys.
    Ps256 = -37,
    /// ML-DSA-44 (FIPS 204), COSE -48 (draft-ietf-cose-dilithium).
    MlDsa44 = -48,
    /// ML-DSA-65, COSE -49.
    MlDsa65 = -49,
    /// ML-DSA-87, COSE -50.
    MlDsa87 = -50,
}

/// Every algorithm this build can sign with, in our order of preference
/// (getInfo 0x0A lists the enabled ones in this order).
pub const SUPPORTED: [Algorithm; 10] = [
    Algorithm::Es256,
    Algorithm::EdDsa,
    Algorithm::Es384,
    Algorithm::Es512,
    Algorithm::Es256K,
    Algorithm::Rs256,
    Algorithm::Ps256,
    Algorithm::MlDsa44,
    Algorithm::MlDsa65,
    Algorithm::MlDsa87,
];

/// What getInfo lists unless the user chooses: what browsers ask for and
/// hardware keys offer.
pub const DEFAULT_ENABLED: [Algorithm; 2] = [Algorithm::Es256, Algorithm::EdDsa];

impl Algorithm {
    /// The COSE algorithm identifier.
    pub const fn cose(self) -> i64 {
        self as i64
    }

    pub fn from_cose(alg: i64) -> Option<Self> {
        SUPPORTED.into_iter().find(|a| a.cose() == alg)
    }

    /// The IANA COSE name ("ES256", "EdDSA", …), as `--algorithms` takes it.
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Es384 => "ES384",
            Algorithm::Es512 => "ES512",
            Algorithm::Es256K => "ES256K",
            Algorithm::Rs256 => "RS256",
            Algorithm::Ps256 => "PS256",
            Algorithm::MlDsa44 => "ML-DSA-44",
            Algorithm::MlDsa65 => "ML-DSA-65",
            Algorithm::MlDsa87 => "ML-DSA-87",
        }
    }

    /// The algorithm of an IANA COSE name, in any letter case.
    pub fn from_name(name: &str) -> Option<Self> {
        SUPPORTED
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// The length of the private bytes a credential ID or record carries.
    pub(crate) const fn private_len(self) -> usize {
        match self {
            // ML-DSA keys are kept as the 32-byte seed ξ (FIPS 204 Algorithm 6).
            Algorithm::Es256
            | Algorithm::EdDsa
            | Algorithm::Es256K
            | Algorithm::MlDsa44
            | Algorithm::MlDsa65
            | Algorithm::MlDsa87 => 32,
            Algorithm::Es384 => 48,
            Algorithm::Es512 => 66,
            // The primes p ‖ q (keys/rsa.rs).
            Algorithm::Rs256 | Algorithm::Ps256 => rsa::PRIVATE_LEN,
        }
    }
}

/// CTAP 2.1 §6.1.2 step 3: the first algorithm of pubKeyCredParams (in the
/// request's order) that is enabled; `None` means UNSUPPORTED_ALGORITHM.
/// The caller passes only the `alg` of entries whose type is "public-key".
pub(crate) fn choose(offered: &[i64], enabled: &[Algorithm]) -> Option<Algorithm> {
    offered
        .iter()
        .find_map(|&alg| Algorithm::from_cose(alg).filter(|a| enabled.contains(a)))
}

/// getInfo `algorithms` (0x0A): `[{alg, type: "public-key"}, …]` of the
/// enabled algorithms, in our order of preference.
pub(crate) fn algorithms_info(enabled: &[Algorithm]) -> Value {
    Value::Array(
        SUPPORTED
            .iter()
            .filter(|a| enabled.contains(a))
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
    /// The P-384 scalar.
    Es384(p384::SecretKey),
    /// The P-521 scalar.
    Es512(p521::SecretKey),
    /// The secp256k1 scalar.
    Es256K(k256::SecretKey),
    /// An RSA-2048 key for PKCS#1 v1.5 signatures (boxed: the crate's key
    /// with its CRT values is far larger than the other variants).
    Rs256(Box<::rsa::PrivateKey>),
    /// An RSA-2048 key for PSS signatures.
    Ps256(Box<::rsa::PrivateKey>),
    /// The ML-DSA-44 seed ξ; the expanded key is derived when a signature
    /// or the public key is asked for.
    MlDsa44(Zeroizing<[u8; 32]>),
    /// The ML-DSA-65 seed ξ.
    MlDsa65(Zeroizing<[u8; 32]>),
    /// The ML-DSA-87 seed ξ.
    MlDsa87(Zeroizing<[u8; 32]>),
}

// Every variant wipes itself on drop (the curves' SecretKey and Zeroizing do).
impl ZeroizeOnDrop for CredentialKey {}

impl fmt::Debug for CredentialKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CredentialKey::{:?}(..)", self.algorithm())
    }
}

impl CredentialKey {
    /// A new key from the environment's RNG. For the ECDSA curves, random
    /// bytes that are zero or not below the group order are redrawn (for
    /// P-521 the top seven bits of the 66 bytes are cleared first: the order
    /// has 521 bits).
    /// An RSA key comes from the environment's pool when it has one (finding
    /// two primes takes far longer than a request should), else is found
    /// here.
    pub(crate) fn generate<E: Env>(env: &mut E, alg: Algorithm) -> Result<Self, CtapError> {
        if matches!(alg, Algorithm::Rs256 | Algorithm::Ps256) {
            let primes = match env.pregenerated_rsa_key() {
                Some(primes) => primes,
                None => rsa::generate_primes(|buf| env.fill_random(buf)).ok_or(CtapError::Other)?,
            };
            return Self::from_bytes(alg, &primes).ok_or(CtapError::Other);
        }
        let mut bytes = Zeroizing::new(vec![0u8; alg.private_len()]);
        for _ in 0..MAX_KEYGEN_ATTEMPTS {
            env.fill_random(bytes.as_mut_slice());
            if alg == Algorithm::Es512
                && let Some(top) = bytes.first_mut()
            {
                *top &= 0x01;
            }
            if let Some(key) = Self::from_bytes(alg, &bytes) {
                return Ok(key);
            }
        }
        Err(CtapError::Other)
    }

    /// A key from its private bytes ([`Algorithm::private_len`] of them);
    /// `None` for another length or an invalid scalar.
    pub(crate) fn from_bytes(alg: Algorithm, bytes: &[u8]) -> Option<Self> {
        if bytes.len() != alg.private_len() {
            return None;
        }
        match alg {
            Algorithm::Es256 => SecretKey::from_slice(bytes).ok().map(CredentialKey::Es256),
            Algorithm::EdDsa => Some(CredentialKey::EdDsa(Zeroizing::new(bytes.try_into().ok()?))),
            Algorithm::Es384 => p384::SecretKey::from_slice(bytes)
                .ok()
                .map(CredentialKey::Es384),
            Algorithm::Es512 => p521::SecretKey::from_slice(bytes)
                .ok()
                .map(CredentialKey::Es512),
            Algorithm::Es256K => k256::SecretKey::from_slice(bytes)
                .ok()
                .map(CredentialKey::Es256K),
            Algorithm::Rs256 => rsa::from_primes(bytes).map(|k| CredentialKey::Rs256(Box::new(k))),
            Algorithm::Ps256 => rsa::from_primes(bytes).map(|k| CredentialKey::Ps256(Box::new(k))),
            Algorithm::MlDsa44 => Some(CredentialKey::MlDsa44(Zeroizing::new(
                bytes.try_into().ok()?,
            ))),
            Algorithm::MlDsa65 => Some(CredentialKey::MlDsa65(Zeroizing::new(
                bytes.try_into().ok()?,
            ))),
            Algorithm::MlDsa87 => Some(CredentialKey::MlDsa87(Zeroizing::new(
                bytes.try_into().ok()?,
            ))),
        }
    }

    /// The private bytes (scalar or seed), for wrapping into an ID.
    pub(crate) fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        fn scalar<const N: usize>(mut bytes: impl AsMut<[u8]>) -> Zeroizing<Vec<u8>> {
            let out = Zeroizing::new(bytes.as_mut().to_vec());
            zeroize::Zeroize::zeroize(bytes.as_mut());
            debug_assert_eq!(out.len(), N);
            out
        }
        match self {
            CredentialKey::Es256(key) => scalar::<32>(key.to_bytes()),
            CredentialKey::EdDsa(seed) => Zeroizing::new(seed.to_vec()),
            CredentialKey::Es384(key) => scalar::<48>(key.to_bytes()),
            CredentialKey::Es512(key) => scalar::<66>(key.to_bytes()),
            CredentialKey::Es256K(key) => scalar::<32>(key.to_bytes()),
            CredentialKey::Rs256(key) | CredentialKey::Ps256(key) => rsa::to_primes(key),
            CredentialKey::MlDsa44(seed)
            | CredentialKey::MlDsa65(seed)
            | CredentialKey::MlDsa87(seed) => Zeroizing::new(seed.to_vec()),
        }
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        match self {
            CredentialKey::Es256(_) => Algorithm::Es256,
            CredentialKey::EdDsa(_) => Algorithm::EdDsa,
            CredentialKey::Es384(_) => Algorithm::Es384,
            CredentialKey::Es512(_) => Algorithm::Es512,
            CredentialKey::Es256K(_) => Algorithm::Es256K,
            CredentialKey::Rs256(_) => Algorithm::Rs256,
            CredentialKey::Ps256(_) => Algorithm::Ps256,
            CredentialKey::MlDsa44(_) => Algorithm::MlDsa44,
            CredentialKey::MlDsa65(_) => Algorithm::MlDsa65,
            CredentialKey::MlDsa87(_) => Algorithm::MlDsa87,
        }
    }

    /// The canonical COSE_Key of the public key (keys in CTAP2 canonical
    /// order once encoded): EC2 `{1: 2, 3: alg, -1: crv, -2: x, -3: y}` with
    /// the coordinates at the field's full length (RFC 9053 §7.1.1; crv 1
    /// P-256, 2 P-384, 3 P-521, 8 secp256k1 by RFC 8812 §3.1), or OKP
    /// `{1: 1, 3: -8, -1: 6 (Ed25519), -2: x}`.
    pub(crate) fn cose_public_key(&self) -> Result<Value, CtapError> {
        match self {
            CredentialKey::Es256(key) => {
                let point = key.public_key().to_sec1_point(false);
                ec2_key(Algorithm::Es256, 1, point.x(), point.y())
            }
            CredentialKey::Es384(key) => {
                let point = key.public_key().to_sec1_point(false);
                ec2_key(Algorithm::Es384, 2, point.x(), point.y())
            }
            CredentialKey::Es512(key) => {
                let point = key.public_key().to_sec1_point(false);
                ec2_key(Algorithm::Es512, 3, point.x(), point.y())
            }
            CredentialKey::Es256K(key) => {
                let point = key.public_key().to_sec1_point(false);
                ec2_key(Algorithm::Es256K, 8, point.x(), point.y())
            }
            CredentialKey::Rs256(key) => Ok(rsa::cose_public_key(key, Algorithm::Rs256.cose())),
            CredentialKey::Ps256(key) => Ok(rsa::cose_public_key(key, Algorithm::Ps256.cose())),
            // AKP key type 7 with the public key under -1
            // (draft-ietf-cose-dilithium), as python-fido2 reads it.
            CredentialKey::MlDsa44(seed) => Ok(akp_key(
                Algorithm::MlDsa44,
                post_quantum::public_key::<MlDsa44>(seed),
            )),
            CredentialKey::MlDsa65(seed) => Ok(akp_key(
                Algorithm::MlDsa65,
                post_quantum::public_key::<MlDsa65>(seed),
            )),
            CredentialKey::MlDsa87(seed) => Ok(akp_key(
                Algorithm::MlDsa87,
                post_quantum::public_key::<MlDsa87>(seed),
            )),
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

    /// Signs `message`: the ECDSA algorithms give a DER signature over the
    /// message's digest (SHA-256, SHA-384, SHA-512) with an RFC 6979
    /// deterministic nonce; EdDSA gives the raw 64-byte Ed25519 signature of
    /// the message itself.
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
            // From the scalar too, as for ES256: a signing key would first
            // derive the public point, which doubled the cost.
            CredentialKey::Es384(key) => {
                let digest = sha2::Sha384::digest(message);
                let (signature, _) = sign_prehashed_rfc6979::<p384::NistP384, sha2::Sha384>(
                    &key.to_nonzero_scalar(),
                    &digest,
                    &[],
                );
                signature.to_der().as_bytes().to_vec()
            }
            CredentialKey::Es512(key) => {
                let digest = sha2::Sha512::digest(message);
                let (signature, _) = sign_prehashed_rfc6979::<p521::NistP521, sha2::Sha512>(
                    &key.to_nonzero_scalar(),
                    &digest,
                    &[],
                );
                signature.to_der().as_bytes().to_vec()
            }
            CredentialKey::Es256K(key) => {
                let signature: k256::ecdsa::DerSignature =
                    k256::ecdsa::SigningKey::from(key).sign(message);
                signature.as_bytes().to_vec()
            }
            CredentialKey::Rs256(key) => rsa::sign(key, rsa::Padding::Pkcs1v15, message),
            CredentialKey::Ps256(key) => rsa::sign(key, rsa::Padding::Pss, message),
            CredentialKey::MlDsa44(seed) => post_quantum::sign::<MlDsa44>(seed, message),
            CredentialKey::MlDsa65(seed) => post_quantum::sign::<MlDsa65>(seed, message),
            CredentialKey::MlDsa87(seed) => post_quantum::sign::<MlDsa87>(seed, message),
        }
    }
}

/// An AKP COSE_Key (key type 7) with the public key under -1
/// (draft-ietf-cose-dilithium), as python-fido2 reads it.
fn akp_key(alg: Algorithm, public: Vec<u8>) -> Value {
    Value::Map(vec![
        (Value::int(1), Value::int(7)),
        (Value::int(3), Value::int(alg.cose())),
        (Value::int(-1), Value::Bytes(public)),
    ])
}

/// An EC2 COSE_Key from the coordinates of an uncompressed point.
fn ec2_key<N>(alg: Algorithm, crv: i64, x: Option<&N>, y: Option<&N>) -> Result<Value, CtapError>
where
    N: AsRef<[u8]> + ?Sized,
{
    let (x, y) = (x.ok_or(CtapError::Other)?, y.ok_or(CtapError::Other)?);
    Ok(Value::Map(vec![
        (Value::int(1), Value::int(2)),
        (Value::int(3), Value::int(alg.cose())),
        (Value::int(-1), Value::int(crv)),
        (Value::int(-2), Value::bytes(x.as_ref())),
        (Value::int(-3), Value::bytes(y.as_ref())),
    ]))
}

/// Verifies `sig` over `message` with a COSE_Key of any supported algorithm,
/// using the curve crates' verifiers (tests only).
#[cfg(test)]
pub(crate) fn verify(cose: &Value, message: &[u8], sig: &[u8]) -> Result<(), String> {
    use ecdsa::signature::Verifier as _;
    let bytes = |label: i64| match cose.get(&Value::int(label)) {
        Some(Value::Bytes(b)) => Ok(b.clone()),
        _ => Err(format!("no COSE label {label}")),
    };
    let alg = cose
        .get(&Value::int(3))
        .and_then(Value::as_i64)
        .and_then(Algorithm::from_cose)
        .ok_or("no alg")?;
    let e = |e: ecdsa::signature::Error| e.to_string();
    if alg == Algorithm::EdDsa {
        let x: [u8; 32] = bytes(-2)?.try_into().map_err(|_| "x length")?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&x).map_err(e)?;
        let sig = ed25519_dalek::Signature::from_slice(sig).map_err(e)?;
        return key.verify(message, &sig).map_err(e);
    }
    fn ml_dsa<P: ml_dsa::MlDsaParams>(pk: &[u8], message: &[u8], sig: &[u8]) -> Result<(), String> {
        let pk = ml_dsa::EncodedVerifyingKey::<P>::try_from(pk).map_err(|_| "pk length")?;
        let sig = ml_dsa::EncodedSignature::<P>::try_from(sig).map_err(|_| "sig length")?;
        let sig = ml_dsa::Signature::<P>::decode(&sig).ok_or("sig encoding")?;
        ml_dsa::VerifyingKey::<P>::decode(&pk)
            .verify(message, &sig)
            .map_err(|e| e.to_string())
    }
    match alg {
        Algorithm::MlDsa44 => return ml_dsa::<MlDsa44>(&bytes(-1)?, message, sig),
        Algorithm::MlDsa65 => return ml_dsa::<MlDsa65>(&bytes(-1)?, message, sig),
        Algorithm::MlDsa87 => return ml_dsa::<MlDsa87>(&bytes(-1)?, message, sig),
        Algorithm::Rs256 | Algorithm::Ps256 => {
            let n = ::rsa::BoxedUint::from_be_slice_vartime(&bytes(-1)?);
            let e = ::rsa::BoxedUint::from_be_slice_vartime(&bytes(-2)?);
            let public = ::rsa::PublicKey::new(n, e).map_err(|e| e.to_string())?;
            let digest = Sha256::digest(message);
            return if alg == Algorithm::Rs256 {
                public.verify(::rsa::Pkcs1v15Sign::new::<Sha256>(), &digest, sig)
            } else {
                public.verify(::rsa::Pss::<Sha256>::new(), &digest, sig)
            }
            .map_err(|e| e.to_string());
        }
        _ => {}
    }
    let sec1 = [vec![4u8], bytes(-2)?, bytes(-3)?].concat();
    match alg {
        Algorithm::Es256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
            .map_err(e)?
            .verify(
                message,
                &p256::ecdsa::DerSignature::from_bytes(sig).map_err(e)?,
            )
            .map_err(e),
        Algorithm::Es384 => p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
            .map_err(e)?
            .verify(
                message,
                &p384::ecdsa::DerSignature::from_bytes(sig).map_err(e)?,
            )
            .map_err(e),
        Algorithm::Es512 => p521::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
            .map_err(e)?
            .verify(message, &p521::ecdsa::Signature::from_der(sig).map_err(e)?)
            .map_err(e),
        Algorithm::Es256K => k256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
            .map_err(e)?
            .verify(
                message,
                &k256::ecdsa::DerSignature::from_bytes(sig).map_err(e)?,
            )
            .map_err(e),
        Algorithm::EdDsa
        | Algorithm::Rs256
        | Algorithm::Ps256
        | Algorithm::MlDsa44
        | Algorithm::MlDsa65
        | Algorithm::MlDsa87 => Err("handled above".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbor;
    use crate::testing::TestEnv;
    use ed25519_dalek::Verifier as _;

    #[test]
    fn choose_honours_request_order_and_skips_unknown_or_disabled() {
        // §6.1.2 step 3: the first enabled entry in the request's order.
        let d = &DEFAULT_ENABLED;
        assert_eq!(choose(&[-7, -8], d), Some(Algorithm::Es256));
        assert_eq!(choose(&[-8, -7], d), Some(Algorithm::EdDsa));
        assert_eq!(choose(&[-257, -8, -7], d), Some(Algorithm::EdDsa));
        assert_eq!(choose(&[-257, -37], d), None);
        assert_eq!(choose(&[], d), None);
        // Supported but not enabled is as good as unknown.
        assert_eq!(choose(&[-35, -7], d), Some(Algorithm::Es256));
        assert_eq!(choose(&[-35, -7], &SUPPORTED), Some(Algorithm::Es384));
        assert_eq!(
            choose(&[-47], &[Algorithm::Es256K]),
            Some(Algorithm::Es256K)
        );
    }

    #[test]
    fn names_round_trip_in_any_case() {
        for alg in SUPPORTED {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
            assert_eq!(Algorithm::from_cose(alg.cose()), Some(alg));
        }
        assert_eq!(Algorithm::from_name("es256k"), Some(Algorithm::Es256K));
        assert_eq!(Algorithm::from_name("rs256"), Some(Algorithm::Rs256));
        assert_eq!(Algorithm::from_name("RS512"), None);
    }

    #[test]
    fn algorithms_info_lists_the_enabled_in_our_order() {
        let all = algorithms_info(&[Algorithm::Es256K, Algorithm::Es256]);
        let Value::Array(entries) = all else {
            panic!("not an array")
        };
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].get(&Value::text("alg")), Some(&Value::int(-7)));
        assert_eq!(entries[1].get(&Value::text("alg")), Some(&Value::int(-47)));
        let info = algorithms_info(&DEFAULT_ENABLED);
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
            assert_eq!(key.to_bytes().len(), alg.private_len());
            let again = CredentialKey::from_bytes(alg, &key.to_bytes()).unwrap();
            assert_eq!(again.sign(b"m"), key.sign(b"m"));
            assert_eq!(format!("{key:?}"), format!("CredentialKey::{alg:?}(..)"));
            // The wrong length for the algorithm is refused.
            let mut longer = key.to_bytes().to_vec();
            longer.push(1);
            assert!(CredentialKey::from_bytes(alg, &longer).is_none());
        }
        assert!(CredentialKey::from_bytes(Algorithm::Es256, &[0; 32]).is_none());
        assert!(CredentialKey::from_bytes(Algorithm::Es256, &[0xFF; 32]).is_none());
        assert!(CredentialKey::from_bytes(Algorithm::Es512, &[0xFF; 66]).is_none());
    }

    #[test]
    fn every_algorithm_signs_what_its_cose_key_verifies() {
        let mut env = TestEnv::new(6);
        for alg in SUPPORTED {
            let key = CredentialKey::generate(&mut env, alg).unwrap();
            let cose = key.cose_public_key().unwrap();
            assert_eq!(cose.get(&Value::int(3)), Some(&Value::int(alg.cose())));
            let sig = key.sign(b"message");
            verify(&cose, b"message", &sig).unwrap_or_else(|e| panic!("{alg:?}: {e}"));
            assert!(verify(&cose, b"massage", &sig).is_err(), "{alg:?}");
        }
    }

    #[test]
    fn p384_and_p521_sign_from_the_scalar_the_bytes_their_signing_keys_give() {
        let mut env = TestEnv::new(8);
        let CredentialKey::Es384(secret) =
            CredentialKey::generate(&mut env, Algorithm::Es384).unwrap()
        else {
            panic!("not ES384")
        };
        let reference: p384::ecdsa::DerSignature =
            p384::ecdsa::SigningKey::from(&secret).sign(b"message");
        let key = CredentialKey::Es384(secret);
        assert_eq!(key.sign(b"message"), reference.as_bytes());
        let CredentialKey::Es512(secret) =
            CredentialKey::generate(&mut env, Algorithm::Es512).unwrap()
        else {
            panic!("not ES512")
        };
        let reference: p521::ecdsa::Signature =
            p521::ecdsa::SigningKey::from(&secret).sign(b"message");
        let key = CredentialKey::Es512(secret);
        assert_eq!(key.sign(b"message"), reference.to_der().as_bytes());
    }

    #[test]
    fn ec2_coordinates_have_the_field_length() {
        // RFC 9053 §7.1.1: x and y are the field's length, leading zeros kept.
        let mut env = TestEnv::new(7);
        for (alg, crv, len) in [
            (Algorithm::Es256, 1, 32),
            (Algorithm::Es384, 2, 48),
            (Algorithm::Es512, 3, 66),
            (Algorithm::Es256K, 8, 32),
        ] {
            for _ in 0..20 {
                let cose = CredentialKey::generate(&mut env, alg)
                    .unwrap()
                    .cose_public_key()
                    .unwrap();
                assert_eq!(cose.get(&Value::int(-1)), Some(&Value::int(crv)));
                for coordinate in [-2, -3] {
                    let Some(Value::Bytes(b)) = cose.get(&Value::int(coordinate)) else {
                        panic!("{alg:?}: no coordinate {coordinate}")
                    };
                    assert_eq!(b.len(), len, "{alg:?}");
                }
            }
        }
    }

    #[test]
    fn stuck_rng_fails_every_ecdsa_curve_instead_of_looping() {
        for alg in [Algorithm::Es384, Algorithm::Es512, Algorithm::Es256K] {
            let mut env = TestEnv::new(0);
            env.set_stuck_rng(Some(0xFF));
            assert_eq!(
                CredentialKey::generate(&mut env, alg).unwrap_err(),
                CtapError::Other,
                "{alg:?}"
            );
        }
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
