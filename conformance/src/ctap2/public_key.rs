//! Credential public keys as COSE_Key (RFC 9053 §7.1, CTAP 2.1 §6.1.2 step 17): EC2
//! P-256 for ES256 (alg −7) and OKP Ed25519 for EdDSA (alg −8), and verification of the
//! signatures made with them (WebAuthn L2 §8.2: over authData || clientDataHash).

use ed25519_dalek::Verifier as _;

use super::cbor::{MapView, Value, as_bytes, as_int};
use crate::Error;

pub const COSE_ES256: i64 = -7;
pub const COSE_EDDSA: i64 = -8;

/// A credential public key the client can verify with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialPublicKey {
    Es256(p256::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl CredentialPublicKey {
    /// Parses a COSE_Key, insisting on exactly the parameters of its algorithm.
    pub fn from_cose(v: &Value) -> Result<Self, Error> {
        let m = MapView::new(v, "COSE key")?;
        let kty = as_int(m.require_int(1)?, "kty")?;
        let alg = as_int(m.require_int(3)?, "alg")?;
        let crv = as_int(m.require_int(-1)?, "crv")?;
        let coordinate = |label: i64, name: &str| -> Result<[u8; 32], Error> {
            as_bytes(m.require_int(label)?, name)?
                .try_into()
                .map_err(|_| Error::verify(format!("COSE key {name} is not 32 bytes")))
        };
        match (kty, alg, crv) {
            (2, -7, 1) => {
                m.only_int_keys(&[1, 3, -1, -2, -3])?;
                let mut sec1 = [0u8; 65];
                sec1[0] = 0x04;
                sec1[1..33].copy_from_slice(&coordinate(-2, "x")?);
                sec1[33..].copy_from_slice(&coordinate(-3, "y")?);
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                    .map(Self::Es256)
                    .map_err(|_| Error::verify("COSE key is not a P-256 point"))
            }
            (1, -8, 6) => {
                m.only_int_keys(&[1, 3, -1, -2])?;
                ed25519_dalek::VerifyingKey::from_bytes(&coordinate(-2, "x")?)
                    .map(Self::Ed25519)
                    .map_err(|_| Error::verify("COSE key is not an Ed25519 point"))
            }
            _ => Err(Error::Usage(format!(
                "unsupported COSE key: kty {kty} alg {alg} crv {crv} (ES256 and EdDSA are verified)"
            ))),
        }
    }

    /// The COSE algorithm of the key.
    pub fn alg(&self) -> i64 {
        match self {
            Self::Es256(_) => COSE_ES256,
            Self::Ed25519(_) => COSE_EDDSA,
        }
    }

    /// Verifies `signature` over `message`: DER ECDSA/SHA-256 for ES256, the raw
    /// 64-byte signature for Ed25519.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), Error> {
        match self {
            Self::Es256(key) => {
                let sig = p256::ecdsa::Signature::from_der(signature)
                    .map_err(|_| Error::verify("signature is not a DER ECDSA signature"))?;
                key.verify(message, &sig)
                    .map_err(|_| Error::verify("ECDSA signature does not verify"))
            }
            Self::Ed25519(key) => {
                let sig = ed25519_dalek::Signature::from_slice(signature)
                    .map_err(|_| Error::verify("EdDSA signature is not 64 bytes"))?;
                key.verify(message, &sig)
                    .map_err(|_| Error::verify("EdDSA signature does not verify"))
            }
        }
    }

    /// Verifies a WebAuthn signature over `authData || clientDataHash`.
    pub fn verify_webauthn(
        &self,
        auth_data: &[u8],
        client_data_hash: &[u8; 32],
        signature: &[u8],
    ) -> Result<(), Error> {
        self.verify(
            &[auth_data, client_data_hash.as_slice()].concat(),
            signature,
        )
    }
}

impl From<p256::ecdsa::VerifyingKey> for CredentialPublicKey {
    fn from(key: p256::ecdsa::VerifyingKey) -> Self {
        Self::Es256(key)
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::Signer as _;

    use super::super::cbor::{int, text};
    use super::*;

    fn okp(x: &[u8]) -> Value {
        Value::Map(vec![
            (int(1), int(1)),
            (int(3), int(-8)),
            (int(-1), int(6)),
            (int(-2), Value::Bytes(x.to_vec())),
        ])
    }

    #[test]
    fn ed25519_keys_verify_their_signatures_and_nothing_else() {
        let sk = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let key = CredentialPublicKey::from_cose(&okp(sk.verifying_key().as_bytes())).unwrap();
        assert_eq!(key.alg(), COSE_EDDSA);
        let sig = sk.sign(b"authdata||cdh").to_bytes();
        key.verify(b"authdata||cdh", &sig).unwrap();
        assert!(key.verify(b"authdata||cdH", &sig).is_err());
        assert!(key.verify(b"authdata||cdh", &sig[..63]).is_err());
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert!(CredentialPublicKey::from_cose(&okp(&[1; 31])).is_err());
        let mut extra = okp(&[9; 32]);
        if let Value::Map(m) = &mut extra {
            m.push((int(-3), Value::Bytes(vec![0; 32])));
        }
        assert!(CredentialPublicKey::from_cose(&extra).is_err());
        assert!(CredentialPublicKey::from_cose(&text("key")).is_err());
    }
}
