//! Authenticator data, COSE public keys and assertion signatures
//! (WebAuthn §6.1 "Authenticator Data", §6.5.1 attested credential data,
//! RFC 9052/9053 COSE_Key EC2; CTAP 2.1 §6.1.2 step 19, §6.2.2 step 12).

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::cbor::{self, Value};
use crate::status::CtapError;

/// User present.
pub(crate) const FLAG_UP: u8 = 0x01;
/// Attested credential data included.
pub(crate) const FLAG_AT: u8 = 0x40;
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
    public_key: &VerifyingKey,
) -> Result<(), CtapError> {
    let len = u16::try_from(credential_id.len()).map_err(|_| CtapError::Other)?;
    out.extend_from_slice(aaguid);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(credential_id);
    out.extend_from_slice(&cbor::encode(&cose_key(public_key)?));
    Ok(())
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

/// ECDSA-SHA256 over `authData || clientDataHash`, DER encoded (WebAuthn
/// §6.3.3 step 11 / packed attestation §8.2).
pub(crate) fn sign(key: &SigningKey, auth_data: &[u8], client_data_hash: &[u8; 32]) -> Vec<u8> {
    let message = [auth_data, client_data_hash.as_slice()].concat();
    let signature: DerSignature = key.sign(&message);
    signature.as_bytes().to_vec()
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
}
