//! Authenticator data, COSE public keys and assertion signatures
//! (WebAuthn §6.1 "Authenticator Data", §6.5.1 attested credential data,
//! RFC 9052/9053 COSE_Key EC2 and OKP; CTAP 2.1 §6.1.2 step 19, §6.2.2
//! step 12). Signing and COSE encoding of credential keys live in
//! [`crate::keys`]; this module accepts either a [`CredentialKey`] or a bare
//! P-256 key (U2F, which is ES256 only).

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::cbor::{self, Value};
use crate::keys::CredentialKey;
use crate::status::CtapError;

/// User present.
pub(crate) const FLAG_UP: u8 = 0x01;
/// User verified.
pub(crate) const FLAG_UV: u8 = 0x04;
/// Backup eligible (WebAuthn §6.1, BE).
pub(crate) const FLAG_BE: u8 = 0x08;
/// Backed up (BS).
pub(crate) const FLAG_BS: u8 = 0x10;
/// Attested credential data included.
pub(crate) const FLAG_AT: u8 = 0x40;
/// Extension data included.
pub(crate) const FLAG_ED: u8 = 0x80;
/// COSE algorithm ES256 (ECDSA with SHA-256 on P-256).
pub(crate) const ES256: i64 = -7;

pub(crate) fn rp_id_hash(rp_id: &str) -> [u8; 32] {
    Sha256::digest(rp_id.as_bytes()).into()
}

/// `rpIdHash (32) || flags (1) || signCount (4, big-endian)`.
pub(crate) fn auth_data(rp_id_hash: &[u8; 32], flags: u8, sign_count: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(37);
    out.extend_from_slice(rp_id_hash);
    out.push(flags);
    out.extend_from_slice(&sign_count.to_be_bytes());
    out
}

/// Appends attested credential data: `aaguid (16) || L (2, big-endian) ||
/// credentialId (L) || credentialPublicKey (COSE_Key)`.
pub(crate) fn push_attested_credential(
    out: &mut Vec<u8>,
    aaguid: &[u8; 16],
    credential_id: &[u8],
    public_key: &(impl CosePublicKey + ?Sized),
) -> Result<(), CtapError> {
    let len = u16::try_from(credential_id.len()).map_err(|_| CtapError::Other)?;
    out.extend_from_slice(aaguid);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(credential_id);
    out.extend_from_slice(&cbor::encode(&public_key.cose_public_key()?));
    Ok(())
}

/// A public key that has a COSE_Key form.
pub(crate) trait CosePublicKey {
    fn cose_public_key(&self) -> Result<Value, CtapError>;
}

impl CosePublicKey for VerifyingKey {
    fn cose_public_key(&self) -> Result<Value, CtapError> {
        cose_key(self)
    }
}

impl CosePublicKey for CredentialKey {
    fn cose_public_key(&self) -> Result<Value, CtapError> {
        CredentialKey::cose_public_key(self)
    }
}

/// COSE_Key EC2 for ES256: `{1: 2 (EC2), 3: -7, -1: 1 (P-256), -2: x, -3: y}`.
pub(crate) fn cose_key(public_key: &VerifyingKey) -> Result<Value, CtapError> {
    let point = public_key.to_sec1_point(false);
    let x = point.x().ok_or(CtapError::Other)?;
    let y = point.y().ok_or(CtapError::Other)?;
    Ok(Value::Map(vec![
        (Value::int(1), Value::int(2)),
        (Value::int(3), Value::int(ES256)),
        (Value::int(-1), Value::int(1)),
        (Value::int(-2), Value::bytes(x)),
        (Value::int(-3), Value::bytes(y)),
    ]))
}

/// The signature over `authData || clientDataHash` (WebAuthn §6.3.3 step
/// 11 / packed attestation §8.2): DER ECDSA-SHA256 for ES256, raw Ed25519
/// for EdDSA.
pub(crate) fn sign(
    key: &(impl AuthDataSigner + ?Sized),
    auth_data: &[u8],
    client_data_hash: &[u8; 32],
) -> Vec<u8> {
    key.sign_message(&[auth_data, client_data_hash.as_slice()].concat())
}

/// A private key that can sign authenticator data.
pub(crate) trait AuthDataSigner {
    fn sign_message(&self, message: &[u8]) -> Vec<u8>;
}

impl AuthDataSigner for SigningKey {
    fn sign_message(&self, message: &[u8]) -> Vec<u8> {
        let signature: DerSignature = self.sign(message);
        signature.as_bytes().to_vec()
    }
}

impl AuthDataSigner for CredentialKey {
    fn sign_message(&self, message: &[u8]) -> Vec<u8> {
        self.sign(message)
    }
}

impl<T: AuthDataSigner + ?Sized> AuthDataSigner for &T {
    fn sign_message(&self, message: &[u8]) -> Vec<u8> {
        (**self).sign_message(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier;

    #[test]
    fn layout_and_signature_verify() {
        let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let mut data = auth_data(&[0xAA; 32], FLAG_UP | FLAG_AT, 0x0102_0304);
        assert_eq!(data.len(), 37);
        assert_eq!(data[32], 0x41);
        assert_eq!(data[33..37], [1, 2, 3, 4]);
        push_attested_credential(&mut data, &[0x11; 16], &[9; 62], key.verifying_key()).unwrap();
        assert_eq!(data[37..53], [0x11; 16]);
        assert_eq!(data[53..55], [0, 62]);
        let cose = cbor::decode(&data[55 + 62..]).unwrap();
        assert_eq!(cose.get(&Value::int(3)), Some(&Value::int(-7)));
        let sig = sign(&key, &data, &[5; 32]);
        let der = DerSignature::from_bytes(&sig).unwrap();
        let msg = [data.as_slice(), &[5; 32]].concat();
        key.verifying_key().verify(&msg, &der).unwrap();
        let wrong = [data.as_slice(), &[6; 32]].concat();
        assert!(key.verifying_key().verify(&wrong, &der).is_err());
    }

    #[test]
    fn credential_keys_of_both_algorithms_attest_and_sign() {
        use crate::keys::{Algorithm, CredentialKey};
        use crate::testing::TestEnv;
        let mut env = TestEnv::new(2);
        for alg in [Algorithm::Es256, Algorithm::EdDsa] {
            let key = CredentialKey::generate(&mut env, alg).unwrap();
            let mut data = auth_data(&[0xAA; 32], FLAG_UP | FLAG_AT, 1);
            push_attested_credential(&mut data, &[0x11; 16], &[9; 63], &key).unwrap();
            let cose = cbor::decode(&data[55 + 63..]).unwrap();
            assert_eq!(cose, key.cose_public_key().unwrap());
            assert_eq!(cose.get(&Value::int(3)), Some(&Value::int(alg.cose())));
            let sig = sign(&key, &data, &[5; 32]);
            let msg = [data.as_slice(), &[5; 32]].concat();
            assert_eq!(sig, key.sign(&msg));
        }
    }
}
