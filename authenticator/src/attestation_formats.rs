//! The attestation formats a relying party must verify besides packed and
//! none, as a test-lab key makes them (WebAuthn §8.6 fido-u2f, §8.8 apple,
//! §8.4 android-key), each by the book and each chained to the key's own
//! test CA (`attestation_ca::provision_test_attestation`), never to a
//! vendor's root. They need a P-256 credential key, as the devices that use
//! them have; for another algorithm the key gives packed self attestation.
//!
//! - **fido-u2f**: `{sig, x5c: [attestation certificate]}`, the signature
//!   over `0x00 ‖ rpIdHash ‖ clientDataHash ‖ credentialId ‖ public key
//!   (65 bytes)` (U2F Raw Message Formats §4.3), with the AAGUID all zeros
//!   in the authenticator data (§8.6 verification step 6).
//! - **apple**: `{x5c: [credential certificate, CA]}`, no signature: the
//!   credential's own key is certified, and the certificate's extension
//!   1.2.840.113635.100.8.2 carries SHA-256(authData ‖ clientDataHash).
//! - **tpm**: see [`tpm`].
//! - **android-key**: `{alg, sig, x5c: [credential certificate, CA]}`, the
//!   credential key signing `authData ‖ clientDataHash`; its certificate's
//!   key description (1.3.6.1.4.1.11129.2.1.17) carries the client data hash
//!   as attestationChallenge, and in teeEnforced purpose SIGN, algorithm EC
//!   and origin GENERATED, with no allApplications: what §8.4 step 4 checks.
//!   It describes a simulated Android key, for RPs to test their checks.

use der::oid::ObjectIdentifier;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::elliptic_curve::sec1::ToSec1Point as _;
use sha2::{Digest, Sha256};

use crate::attestation;
use crate::attestation_ca::{self, TestCa};
use crate::cbor::Value;
use crate::env::Env;
use crate::error::Error;
use crate::keys::{Algorithm, CredentialKey};
use crate::status::CtapError;

const APPLE_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113635.100.8.2");
const ANDROID_KEY_DESCRIPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.1.17");

/// The credential's P-256 public key, if it is an ES256 credential.
pub(crate) fn p256_public(key: &CredentialKey) -> Option<p256::PublicKey> {
    match key {
        CredentialKey::Es256(secret) => Some(secret.public_key()),
        _ => None,
    }
}

/// fido-u2f (§8.6).
pub(crate) fn fido_u2f<E: Env>(
    env: &mut E,
    key: &CredentialKey,
    auth_data: &[u8],
    client_data_hash: &[u8; 32],
) -> Result<(String, Value), Error> {
    let public = p256_public(key).ok_or(CtapError::Other)?;
    let rp_id_hash = auth_data.get(..32).ok_or(CtapError::Other)?;
    let id_len = usize::from(u16::from_be_bytes([
        *auth_data.get(53).ok_or(CtapError::Other)?,
        *auth_data.get(54).ok_or(CtapError::Other)?,
    ]));
    let credential_id = auth_data.get(55..55 + id_len).ok_or(CtapError::Other)?;
    let point = public.to_sec1_point(false);
    let signed = [
        &[0x00][..],
        rp_id_hash,
        client_data_hash,
        credential_id,
        point.as_bytes(),
    ]
    .concat();
    let (certificate, signing_key): (Vec<u8>, SigningKey) = attestation::u2f_attestation(env)?;
    let signature: DerSignature = signing_key.sign(&signed);
    Ok((
        "fido-u2f".into(),
        Value::text_map(vec![
            ("sig", Value::bytes(signature.as_bytes())),
            ("x5c", Value::Array(vec![Value::Bytes(certificate)])),
        ]),
    ))
}

/// apple (§8.8).
pub(crate) fn apple<E: Env>(
    env: &mut E,
    key: &CredentialKey,
    auth_data: &[u8],
    client_data_hash: &[u8; 32],
) -> Result<(String, Value), Error> {
    let nonce = Sha256::digest([auth_data, client_data_hash.as_slice()].concat());
    // SEQUENCE { [1] EXPLICIT OCTET STRING nonce }
    let value = tlv(&[0x30], &tlv(&[0xA1], &tlv(&[0x04], &nonce)));
    let x5c = certified_chain(
        env,
        key,
        "softkey lab Apple Anonymous Attestation",
        attestation_ca::raw_extension(APPLE_NONCE, false, value)?,
    )?;
    Ok(("apple".into(), Value::text_map(vec![("x5c", x5c)])))
}

/// android-key (§8.4).
pub(crate) fn android_key<E: Env>(
    env: &mut E,
    key: &CredentialKey,
    auth_data: &[u8],
    client_data_hash: &[u8; 32],
) -> Result<(String, Value), Error> {
    let description = key_description(client_data_hash);
    let x5c = certified_chain(
        env,
        key,
        "softkey lab Android Keystore Key",
        attestation_ca::raw_extension(ANDROID_KEY_DESCRIPTION, false, description)?,
    )?;
    let signature = key.sign(&[auth_data, client_data_hash.as_slice()].concat());
    Ok((
        "android-key".into(),
        Value::text_map(vec![
            ("alg", Value::int(Algorithm::Es256.cose())),
            ("sig", Value::Bytes(signature)),
            ("x5c", x5c),
        ]),
    ))
}

/// `x5c` of the formats that certify the credential's own key: its
/// certificate, with `extension`, then the test CA's.
fn certified_chain<E: Env>(
    env: &mut E,
    key: &CredentialKey,
    common_name: &str,
    extension: x509_cert::ext::Extension,
) -> Result<Value, Error> {
    let public = p256_public(key).ok_or(CtapError::Other)?;
    let ca = test_ca(env)?;
    let certificate = issue(env, &ca, &public, Some(common_name), vec![extension])?;
    Ok(Value::Array(vec![
        Value::Bytes(certificate),
        Value::Bytes(ca.cert_der),
    ]))
}

/// The Android KeyDescription (attestation version 3, TEE security level):
/// `SEQUENCE { version, securityLevel, keymasterVersion, keymasterSecurityLevel,
/// attestationChallenge, uniqueId, softwareEnforced, teeEnforced }`.
fn key_description(client_data_hash: &[u8; 32]) -> Vec<u8> {
    const INTEGER: &[u8] = &[0x02];
    const ENUMERATED: &[u8] = &[0x0A];
    const OCTET_STRING: &[u8] = &[0x04];
    const SEQUENCE: &[u8] = &[0x30];
    const SET: &[u8] = &[0x31];
    // [1] purpose: SET OF { KM_PURPOSE_SIGN (2) }; [2] algorithm: KM_ALGORITHM_EC (3);
    // [702] origin: KM_ORIGIN_GENERATED (0). Tags in ascending order, as DER wants.
    let tee_enforced = [
        tlv(&[0xA1], &tlv(SET, &tlv(INTEGER, &[2]))),
        tlv(&[0xA2], &tlv(INTEGER, &[3])),
        tlv(&[0xBF, 0x85, 0x3E], &tlv(INTEGER, &[0])),
    ]
    .concat();
    let fields = [
        tlv(INTEGER, &[3]),
        tlv(ENUMERATED, &[1]),
        tlv(INTEGER, &[4]),
        tlv(ENUMERATED, &[1]),
        tlv(OCTET_STRING, client_data_hash),
        tlv(OCTET_STRING, &[]),
        tlv(SEQUENCE, &[]),
        tlv(SEQUENCE, &tee_enforced),
    ]
    .concat();
    tlv(SEQUENCE, &fields)
}

/// A DER element: tag bytes, definite length, contents.
fn tlv(tag: &[u8], contents: &[u8]) -> Vec<u8> {
    let mut out = tag.to_vec();
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(contents);
    out
}

fn test_ca<E: Env>(env: &mut E) -> Result<TestCa, Error> {
    Ok(attestation_ca::load_test_ca(env.store())?.ok_or(CtapError::Other)?)
}

fn issue<E: Env>(
    env: &mut E,
    ca: &TestCa,
    public: &p256::PublicKey,
    common_name: Option<&str>,
    extensions: Vec<x509_cert::ext::Extension>,
) -> Result<Vec<u8>, Error> {
    let now = env.unix_time();
    let mut random = |buf: &mut [u8]| env.fill_random(buf);
    Ok(ca.issue(public, common_name, extensions, &mut random, now)?)
}

/// tpm (§8.3), as a software TPM (swtpm) would make it: `{ver: "2.0",
/// alg: -7, x5c: [AIK certificate, CA], sig, certInfo, pubArea}`. pubArea
/// is the credential key's TPMT_PUBLIC (ECC NIST P-256); certInfo a
/// TPMS_ATTEST of type TPM_ST_ATTEST_CERTIFY whose extraData is
/// SHA-256(authData ‖ clientDataHash) and whose attested name is the
/// SHA-256 name of pubArea; a fresh attestation identity key (AIK) signs
/// certInfo, certified by the test CA with the empty subject, the TPM
/// subject alternative name (manufacturer id:49424D00, the id swtpm
/// reports, model "softkey lab swtpm", version id:00020000) and the
/// tcg-kp-AIKCertificate extended key usage that §8.3.1 requires.
pub(crate) fn tpm<E: Env>(
    env: &mut E,
    key: &CredentialKey,
    auth_data: &[u8],
    client_data_hash: &[u8; 32],
) -> Result<(String, Value), Error> {
    let public = p256_public(key).ok_or(CtapError::Other)?;
    let ca = test_ca(env)?;
    let point = public.to_sec1_point(false);
    let (x, y) = (
        point.x().ok_or(CtapError::Other)?,
        point.y().ok_or(CtapError::Other)?,
    );
    let pub_area = [
        &0x0023u16.to_be_bytes()[..], // TPM_ALG_ECC
        &0x000Bu16.to_be_bytes(),     // nameAlg TPM_ALG_SHA256
        // fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | noDA | sign
        &0x0004_0472u32.to_be_bytes(),
        &0u16.to_be_bytes(),      // authPolicy: empty
        &0x0010u16.to_be_bytes(), // symmetric TPM_ALG_NULL
        &0x0010u16.to_be_bytes(), // scheme TPM_ALG_NULL
        &0x0003u16.to_be_bytes(), // curveID TPM_ECC_NIST_P256
        &0x0010u16.to_be_bytes(), // kdf TPM_ALG_NULL
        &32u16.to_be_bytes(),
        x.as_slice(),
        &32u16.to_be_bytes(),
        y.as_slice(),
    ]
    .concat();
    let name = [&0x000Bu16.to_be_bytes()[..], &Sha256::digest(&pub_area)].concat();
    let mut signer = [0u8; 32];
    env.fill_random(&mut signer);
    let qualified_signer = [&0x000Bu16.to_be_bytes()[..], &signer].concat();
    let qualified_name = [
        &0x000Bu16.to_be_bytes()[..],
        &Sha256::digest([qualified_signer.as_slice(), &name].concat()),
    ]
    .concat();
    let extra_data = Sha256::digest([auth_data, client_data_hash.as_slice()].concat());
    let cert_info = [
        &0xFF54_4347u32.to_be_bytes()[..], // TPM_GENERATED_VALUE
        &0x8017u16.to_be_bytes(),          // TPM_ST_ATTEST_CERTIFY
        &tpm2b(&qualified_signer)?,
        &tpm2b(&extra_data)?,
        // clockInfo: clock (ms), resetCount, restartCount, safe
        &env.unix_time().saturating_mul(1000).to_be_bytes(),
        &0u32.to_be_bytes(),
        &0u32.to_be_bytes(),
        &[1],
        &0x0002_0000_0000_0000u64.to_be_bytes(), // firmwareVersion
        &tpm2b(&name)?,
        &tpm2b(&qualified_name)?,
    ]
    .concat();
    let aik = attestation_ca::random_signing_key(&mut |buf| env.fill_random(buf))?;
    let signature: DerSignature = aik.sign(&cert_info);
    let extensions = vec![
        attestation_ca::raw_extension(SUBJECT_ALT_NAME, true, tpm_alt_name())?,
        attestation_ca::raw_extension(EXTENDED_KEY_USAGE, false, tlv(&[0x30], &oid(TCG_KP_AIK)))?,
    ];
    let aik_public = p256::PublicKey::from(aik.verifying_key());
    let certificate = issue(env, &ca, &aik_public, None, extensions)?;
    Ok((
        "tpm".into(),
        Value::text_map(vec![
            ("ver", Value::text("2.0")),
            ("alg", Value::int(Algorithm::Es256.cose())),
            (
                "x5c",
                Value::Array(vec![
                    Value::Bytes(certificate),
                    Value::Bytes(ca.cert_der.clone()),
                ]),
            ),
            ("sig", Value::bytes(signature.as_bytes())),
            ("certInfo", Value::Bytes(cert_info)),
            ("pubArea", Value::Bytes(pub_area)),
        ]),
    ))
}

/// A TPM2B: a 16-bit big-endian size, then the bytes.
fn tpm2b(bytes: &[u8]) -> Result<Vec<u8>, CtapError> {
    let len = u16::try_from(bytes.len()).map_err(|_| CtapError::Other)?;
    Ok([&len.to_be_bytes()[..], bytes].concat())
}

const SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
const EXTENDED_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
/// tcg-kp-AIKCertificate, 2.23.133.8.3, as encoded arcs.
const TCG_KP_AIK: &[u8] = &[0x67, 0x81, 0x05, 0x08, 0x03];

/// An OBJECT IDENTIFIER element from its encoded arcs.
fn oid(arcs: &[u8]) -> Vec<u8> {
    tlv(&[0x06], arcs)
}

/// The AIK certificate's subject alternative name: one directoryName with
/// tcg-at-tpmManufacturer, tcg-at-tpmModel and tcg-at-tpmVersion
/// (2.23.133.2.1–3) as UTF8Strings.
fn tpm_alt_name() -> Vec<u8> {
    let attribute = |last_arc: u8, value: &str| {
        let pair = [
            oid(&[0x67, 0x81, 0x05, 0x02, last_arc]),
            tlv(&[0x0C], value.as_bytes()),
        ]
        .concat();
        tlv(&[0x31], &tlv(&[0x30], &pair))
    };
    let rdns = [
        attribute(1, "id:49424D00"),
        attribute(2, "softkey lab swtpm"),
        attribute(3, "id:00020000"),
    ]
    .concat();
    tlv(&[0x30], &tlv(&[0xA4], &tlv(&[0x30], &rdns)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_use_the_short_and_the_long_form() {
        assert_eq!(tlv(&[0x04], &[1, 2]), [0x04, 2, 1, 2]);
        let long = tlv(&[0x04], &[0; 200]);
        assert_eq!(&long[..3], &[0x04, 0x81, 200]);
        let longer = tlv(&[0x04], &[0; 300]);
        assert_eq!(&longer[..4], &[0x04, 0x82, 0x01, 0x2C]);
    }

    #[test]
    fn the_key_description_starts_as_a_sequence_with_the_challenge() {
        let description = key_description(&[7; 32]);
        assert_eq!(description[0], 0x30);
        assert!(
            description
                .windows(34)
                .any(|w| w[..2] == [0x04, 32] && w[2..] == [7; 32])
        );
        // teeEnforced's origin under the high tag number 702.
        assert!(description.windows(3).any(|w| w == [0xBF, 0x85, 0x3E]));
    }
}
