//! Credential private keys as PKCS#8 DER (RFC 5958 `OneAsymmetricKey`),
//! the form CXF 1.0 carries passkey keys in: P-256, P-384, P-521 and
//! secp256k1 as an RFC 5915 `ECPrivateKey` with the namedCurve OID (RFC 5480;
//! secp256k1's from SEC 2), Ed25519 as the RFC 8410
//! `CurvePrivateKey` seed, RSA as the RFC 8017 `RSAPrivateKey` under
//! rsaEncryption (one form for RS256 and PS256: the backup names which).
//! Decoding is strict DER and checks an
//! embedded public key against the private one when present.

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ml_dsa::{MlDsa44, MlDsa65, MlDsa87, MlDsaParams};
use zeroize::Zeroizing;

use super::BackupAlgorithm;
use crate::keys::{Algorithm, CredentialKey, SUPPORTED};

/// The PKCS#8 DER of `key` (P-256 with its public key, Ed25519 v2 with its
/// public key), or `None` if encoding failed (it does not for valid keys).
pub(crate) fn encode(key: &CredentialKey) -> Option<Zeroizing<Vec<u8>>> {
    let document = match key {
        CredentialKey::Es256(secret) => secret.to_pkcs8_der().ok()?,
        CredentialKey::EdDsa(seed) => ed25519_dalek::SigningKey::from_bytes(seed)
            .to_pkcs8_der()
            .ok()?,
        CredentialKey::Es384(secret) => secret.to_pkcs8_der().ok()?,
        CredentialKey::Es512(secret) => secret.to_pkcs8_der().ok()?,
        CredentialKey::Es256K(secret) => secret.to_pkcs8_der().ok()?,
        CredentialKey::Rs256(key) | CredentialKey::Ps256(key) => key.to_pkcs8_der().ok()?,
        // The seed-only form (the private key is ξ, FIPS 204 §6.1).
        CredentialKey::MlDsa44(seed) => ml_dsa_key::<MlDsa44>(seed).to_pkcs8_der().ok()?,
        CredentialKey::MlDsa65(seed) => ml_dsa_key::<MlDsa65>(seed).to_pkcs8_der().ok()?,
        CredentialKey::MlDsa87(seed) => ml_dsa_key::<MlDsa87>(seed).to_pkcs8_der().ok()?,
    };
    Some(Zeroizing::new(document.as_bytes().to_vec()))
}

/// The key in `der` if it is a PKCS#8 key of `algorithm`; `None` for
/// anything else (malformed DER, another curve, a public key that does
/// not match, trailing bytes).
pub(crate) fn decode(algorithm: BackupAlgorithm, der: &[u8]) -> Option<CredentialKey> {
    match algorithm {
        BackupAlgorithm::Es256 => p256::SecretKey::from_pkcs8_der(der)
            .ok()
            .map(CredentialKey::Es256),
        BackupAlgorithm::EdDsa => {
            let signing = ed25519_dalek::SigningKey::from_pkcs8_der(der).ok()?;
            Some(CredentialKey::EdDsa(Zeroizing::new(signing.to_bytes())))
        }
        BackupAlgorithm::Es384 => p384::SecretKey::from_pkcs8_der(der)
            .ok()
            .map(CredentialKey::Es384),
        BackupAlgorithm::Es512 => p521::SecretKey::from_pkcs8_der(der)
            .ok()
            .map(CredentialKey::Es512),
        BackupAlgorithm::Es256K => k256::SecretKey::from_pkcs8_der(der)
            .ok()
            .map(CredentialKey::Es256K),
        BackupAlgorithm::Rs256 | BackupAlgorithm::Ps256 => rsa_key(algorithm, der),
        // Only the seed form decodes: a key given in expanded form alone
        // cannot become the 32 bytes a credential ID carries.
        BackupAlgorithm::MlDsa44 => ml_dsa_seed::<MlDsa44>(der).map(CredentialKey::MlDsa44),
        BackupAlgorithm::MlDsa65 => ml_dsa_seed::<MlDsa65>(der).map(CredentialKey::MlDsa65),
        BackupAlgorithm::MlDsa87 => ml_dsa_seed::<MlDsa87>(der).map(CredentialKey::MlDsa87),
    }
}

/// An RSA key the way a credential ID keeps it: two primes, a 2048-bit
/// modulus, e = 65537 (anything else is refused by `from_bytes`).
fn rsa_key(algorithm: BackupAlgorithm, der: &[u8]) -> Option<CredentialKey> {
    use rsa::traits::PrivateKeyParts as _;
    let key = rsa::PrivateKey::from_pkcs8_der(der).ok()?;
    if key.primes().len() != 2 {
        return None;
    }
    let canonical = CredentialKey::from_bytes(algorithm, &crate::keys::rsa_primes(&key))?;
    // The rebuilt key must be the imported one (same modulus and exponent).
    use rsa::traits::PublicKeyParts as _;
    let same = match &canonical {
        CredentialKey::Rs256(k) | CredentialKey::Ps256(k) => k.n() == key.n() && k.e() == key.e(),
        _ => false,
    };
    same.then_some(canonical)
}

fn ml_dsa_key<P: MlDsaParams>(seed: &[u8; 32]) -> ml_dsa::SigningKey<P> {
    crate::keys::ml_dsa_signing_key::<P>(seed)
}

fn ml_dsa_seed<P>(der: &[u8]) -> Option<Zeroizing<[u8; 32]>>
where
    P: MlDsaParams,
    ml_dsa::SigningKey<P>: DecodePrivateKey,
{
    let key = ml_dsa::SigningKey::<P>::from_pkcs8_der(der).ok()?;
    Some(Zeroizing::new(key.to_seed().into()))
}

impl Algorithm {
    /// The algorithm of a PKCS#8 private key (RFC 5958), found by parsing it
    /// with the same strict decoder import uses; `None` for anything that is
    /// not a valid key of an algorithm we sign with.
    pub fn of_pkcs8(der: &[u8]) -> Option<Algorithm> {
        SUPPORTED
            .into_iter()
            .find(|&alg| decode(alg, der).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SUPPORTED;
    use crate::testing::TestEnv;

    #[test]
    fn round_trip_keeps_the_key() {
        let mut env = TestEnv::new(11);
        for alg in SUPPORTED {
            let key = CredentialKey::generate(&mut env, alg).unwrap();
            let der = encode(&key).unwrap();
            let back = decode(alg, &der).unwrap();
            assert_eq!(back.algorithm(), alg);
            assert_eq!(*back.to_bytes(), *key.to_bytes());
        }
    }

    #[test]
    fn known_ed25519_vector_decodes() {
        // RFC 8410 §10.3: the example private key, seed
        // d4ee72dbf913584ad5b6d8f1f769f8ad3afe7c28cbf1d4fbe097a88f44755842.
        let der = [
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20, 0xd4, 0xee, 0x72, 0xdb, 0xf9, 0x13, 0x58, 0x4a, 0xd5, 0xb6, 0xd8, 0xf1,
            0xf7, 0x69, 0xf8, 0xad, 0x3a, 0xfe, 0x7c, 0x28, 0xcb, 0xf1, 0xd4, 0xfb, 0xe0, 0x97,
            0xa8, 0x8f, 0x44, 0x75, 0x58, 0x42,
        ];
        let key = decode(BackupAlgorithm::EdDsa, &der).unwrap();
        assert_eq!(key.to_bytes()[..4], [0xd4, 0xee, 0x72, 0xdb]);
        // The same bytes are not a P-256 key.
        assert!(decode(BackupAlgorithm::Es256, &der).is_none());
    }

    #[test]
    fn of_pkcs8_names_the_algorithm_or_refuses() {
        let mut env = TestEnv::new(12);
        for alg in SUPPORTED {
            let key = CredentialKey::generate(&mut env, alg).unwrap();
            let der = encode(&key).unwrap();
            // An RSA key says only "RSA": RS256, the first RSA algorithm,
            // unless the backup names PS256.
            let named = if alg == Algorithm::Ps256 {
                Algorithm::Rs256
            } else {
                alg
            };
            assert_eq!(BackupAlgorithm::of_pkcs8(&der), Some(named));
        }
        assert_eq!(BackupAlgorithm::of_pkcs8(b"not a key"), None);
    }

    #[test]
    fn wrong_algorithm_and_garbage_are_refused() {
        let mut env = TestEnv::new(12);
        let es = encode(&CredentialKey::generate(&mut env, Algorithm::Es256).unwrap()).unwrap();
        let ed = encode(&CredentialKey::generate(&mut env, Algorithm::EdDsa).unwrap()).unwrap();
        assert!(decode(BackupAlgorithm::EdDsa, &es).is_none());
        assert!(decode(BackupAlgorithm::Es256, &ed).is_none());
        for alg in [BackupAlgorithm::Es256, BackupAlgorithm::EdDsa] {
            assert!(decode(alg, &[]).is_none());
            assert!(decode(alg, &[0x30, 0x00]).is_none());
            let der = if alg == BackupAlgorithm::Es256 {
                &es
            } else {
                &ed
            };
            assert!(decode(alg, &der[..der.len() - 1]).is_none(), "truncated");
            let longer = [der.as_slice(), &[0]].concat();
            assert!(decode(alg, &longer).is_none(), "trailing byte");
        }
        // A P-256 document whose embedded public key is not the private
        // key's: flip a byte of the public point (the document's tail).
        let mut mismatched = es.to_vec();
        let last = mismatched.len() - 1;
        mismatched[last] ^= 1;
        assert!(decode(BackupAlgorithm::Es256, &mismatched).is_none());
        let mut mismatched = ed.to_vec();
        let last = mismatched.len() - 1;
        mismatched[last] ^= 1;
        assert!(decode(BackupAlgorithm::EdDsa, &mismatched).is_none());
    }
}
