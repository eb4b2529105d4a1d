//! The attestation CA and the batch attestation certificate (WebAuthn §8.2.1
//! "Certificate Requirements for Packed Attestation Statements"; FIDO
//! Metadata: id-fido-gen-ce-aaguid 1.3.6.1.4.1.45724.1.1.4), and the
//! per-device self-signed certificate fido-u2f needs when no batch
//! attestation is provisioned (FIDO U2F Raw Message Formats §4.3).
//!
//! `softkey init` calls [`provision_attestation`]: a fresh P-256 CA key
//! signs a self-signed CA certificate, a leaf for a fresh batch key and a
//! leaf for a fresh enterprise attestation key, then the CA private key is
//! dropped — nothing needs it afterwards, so a leaked vault cannot mint more
//! certificates under a CA an RP trusts. The enterprise leaf (CTAP 2.1
//! §7.1) names this one device ("Enterprise Attestation" and its own
//! serial), where the batch leaf is shared by design. Stored under
//! `device/attestation`:
//!
//! ```text
//! version (1) = 2 || batch private key (32) || leaf length (2, big-endian)
//!     || leaf certificate DER || enterprise private key (32)
//!     || enterprise leaf length (2) || enterprise leaf DER || CA certificate DER
//! ```
//!
//! Version 1 records (made before enterprise attestation had its own leaf)
//! are the same without the enterprise fields, and still load: such a
//! vault offers no enterprise attestation.
//!
//! The U2F fallback lives under `device/attestation-u2f` as
//! `version (1) = 1 || private key (32) || certificate DER`. authenticatorReset
//! keeps both: they identify the model, like a hardware key's factory
//! attestation, not the user's credentials.

use core::fmt;
use core::str::FromStr;
use core::time::Duration;

use der::asn1::OctetString;
use der::oid::{AssociatedOid, ObjectIdentifier};
use der::pem::LineEnding;
use der::{Decode, Encode, EncodePem};
use p256::ecdsa::{DerSignature, SigningKey};
use x509_cert::SubjectPublicKeyInfo;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::{Certificate, TbsCertificate};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoRef;
use x509_cert::time::{Time, Validity};
use zeroize::Zeroizing;

use crate::env::{Store, StoreError};
use crate::store_keys::{ATTESTATION, TEST_CA_KEY, U2F_ATTESTATION};

const FORMAT_VERSION: u8 = 1;
/// The attestation record with an enterprise leaf.
const FORMAT_VERSION_ENTERPRISE: u8 = 2;

/// id-fido-gen-ce-aaguid: the AAGUID as an OCTET STRING, non-critical.
pub(crate) const ID_FIDO_GEN_CE_AAGUID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.45724.1.1.4");

/// WebAuthn §8.2.1: Subject-OU is literally this.
const ATTESTATION_OU: &str = "Authenticator Attestation";
/// Certificates are valid from a day before they are made, for RPs whose
/// clocks lag ours.
const CLOCK_SKEW: Duration = Duration::from_secs(24 * 60 * 60);
const MAX_KEYGEN_ATTEMPTS: usize = 64;

/// The provisioned batch attestation: key, leaf and CA certificate.
pub(crate) struct BatchAttestation {
    pub(crate) key: SigningKey,
    pub(crate) leaf_der: Vec<u8>,
    pub(crate) ca_der: Vec<u8>,
    /// The enterprise attestation key and leaf; `None` in version 1 records.
    pub(crate) enterprise: Option<(SigningKey, Vec<u8>)>,
}

impl fmt::Debug for BatchAttestation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchAttestation")
            .field("leaf_der", &self.leaf_der.len())
            .finish_non_exhaustive()
    }
}

/// Creates the attestation CA and the batch attestation key and leaf
/// certificate (carrying `aaguid`) and stores them; returns the CA
/// certificate as PEM, for RPs to trust. If the store already holds an
/// attestation, it is kept (an RP may trust its CA) and its CA returned.
pub fn provision_attestation<S: Store>(
    store: &mut S,
    fill_random: &mut dyn FnMut(&mut [u8]),
    aaguid: [u8; 16],
) -> Result<String, StoreError> {
    provision(store, fill_random, aaguid, false)
}

/// [`provision_attestation`] for a test-lab key: the CA's private key is
/// kept too (`device/attestation-test-ca`), so the key can issue the
/// per-credential certificates of the apple and android-key formats. A
/// vault's CA key is never kept; a lab key holds only test credentials and
/// its CA is its own.
pub fn provision_test_attestation<S: Store>(
    store: &mut S,
    fill_random: &mut dyn FnMut(&mut [u8]),
    aaguid: [u8; 16],
) -> Result<String, StoreError> {
    provision(store, fill_random, aaguid, true)
}

fn provision<S: Store>(
    store: &mut S,
    fill_random: &mut dyn FnMut(&mut [u8]),
    aaguid: [u8; 16],
    keep_ca_key: bool,
) -> Result<String, StoreError> {
    if let Some(pem) = attestation_ca_pem(store)? {
        return Ok(pem);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (batch, ca_key) = create_batch(fill_random, aaguid, now).map_err(store_error)?;
    let too_long = || StoreError::corrupt("attestation certificate too long");
    let leaf_len = u16::try_from(batch.leaf_der.len()).map_err(|_| too_long())?;
    let (ep_key, ep_leaf) = batch.enterprise.as_ref().ok_or_else(too_long)?;
    let ep_len = u16::try_from(ep_leaf.len()).map_err(|_| too_long())?;
    let mut record = Zeroizing::new(vec![FORMAT_VERSION_ENTERPRISE]);
    record.extend_from_slice(&batch.key.to_bytes());
    record.extend_from_slice(&leaf_len.to_be_bytes());
    record.extend_from_slice(&batch.leaf_der);
    record.extend_from_slice(&ep_key.to_bytes());
    record.extend_from_slice(&ep_len.to_be_bytes());
    record.extend_from_slice(ep_leaf);
    record.extend_from_slice(&batch.ca_der);
    if keep_ca_key {
        store.put(TEST_CA_KEY, &Zeroizing::new(ca_key.to_bytes().to_vec()))?;
    }
    store.put(ATTESTATION, &record)?;
    ca_pem(&batch.ca_der).map_err(store_error)
}

/// A test-lab key's CA, able to issue certificates.
pub(crate) struct TestCa {
    key: SigningKey,
    pub(crate) cert_der: Vec<u8>,
    name: Name,
    aaguid: Option<[u8; 16]>,
}

/// The kept CA of a test-lab key ([`provision_test_attestation`]), if any.
pub(crate) fn load_test_ca<S: Store + ?Sized>(store: &S) -> Result<Option<TestCa>, StoreError> {
    let (Some(raw), Some(batch)) = (store.get(TEST_CA_KEY)?, load_batch(store)?) else {
        return Ok(None);
    };
    let corrupt = || StoreError::corrupt("test CA record");
    let key = SigningKey::from_slice(&raw).map_err(|_| corrupt())?;
    let cert = Certificate::from_der(&batch.ca_der).map_err(|_| corrupt())?;
    let leaf = Certificate::from_der(&batch.leaf_der).map_err(|_| corrupt())?;
    // The AAGUID the batch leaf names, for the per-credential certificates.
    let aaguid = leaf
        .tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
        .find(|e| e.extn_id == ID_FIDO_GEN_CE_AAGUID)
        .and_then(|e| OctetString::from_der(e.extn_value.as_bytes()).ok())
        .and_then(|o| o.as_bytes().try_into().ok());
    Ok(Some(TestCa {
        key,
        name: cert.tbs_certificate().subject().clone(),
        cert_der: batch.ca_der,
        aaguid,
    }))
}

impl TestCa {
    /// A certificate for a credential's own P-256 key, under this CA, with
    /// `extensions` beside the leaf ones (the apple nonce, the android-key
    /// key description).
    /// With no `common_name` the subject is empty (a TPM AIK certificate,
    /// WebAuthn §8.3.1).
    pub(crate) fn issue(
        &self,
        subject: &p256::PublicKey,
        common_name: Option<&str>,
        extensions: Vec<Extension>,
        fill_random: &mut dyn FnMut(&mut [u8]),
        now_unix: u64,
    ) -> Result<Vec<u8>, StoreError> {
        let subject_name = match common_name {
            Some(cn) => Name::from_str(&format!(
                "CN={cn},OU={ATTESTATION_OU},O=softkey test lab,C=US"
            ))
            .map_err(|e| store_error(e.into()))?,
            None => Name::default(),
        };
        let profile = Profile {
            subject: subject_name,
            issuer: self.name.clone(),
            ca: false,
            aaguid: self.aaguid,
            extra: extensions,
        };
        let spki = SubjectPublicKeyInfo::from_key(&p256::ecdsa::VerifyingKey::from(subject))
            .map_err(|e| store_error(e.into()))?;
        build_spki(
            profile,
            spki,
            &self.key,
            fill_random,
            Duration::from_secs(now_unix),
        )
        .map_err(store_error)
    }
}

/// An extension with DER `value` inside its OCTET STRING.
pub(crate) fn raw_extension(
    oid: ObjectIdentifier,
    critical: bool,
    value: Vec<u8>,
) -> Result<Extension, StoreError> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value).map_err(|e| store_error(e.into()))?,
    })
}

/// The attestation CA certificate (PEM), if attestation is provisioned.
pub fn attestation_ca_pem<S: Store>(store: &S) -> Result<Option<String>, StoreError> {
    match load_batch(store)? {
        Some(batch) => ca_pem(&batch.ca_der).map(Some).map_err(store_error),
        None => Ok(None),
    }
}

/// The batch attestation, if provisioned. A corrupt record is an error.
pub(crate) fn load_batch<S: Store + ?Sized>(
    store: &S,
) -> Result<Option<BatchAttestation>, StoreError> {
    let Some(raw) = store.get(ATTESTATION)? else {
        return Ok(None);
    };
    parse_batch(&raw)
        .map(Some)
        .ok_or_else(|| StoreError::corrupt("attestation record"))
}

fn parse_batch(raw: &[u8]) -> Option<BatchAttestation> {
    /// A private key and the certificate after it: `key (32) || length (2) || DER`.
    fn key_and_leaf(rest: &[u8]) -> Option<(SigningKey, Vec<u8>, &[u8])> {
        let (key, rest) = rest.split_at_checked(32)?;
        let (len, rest) = rest.split_at_checked(2)?;
        let len = usize::from(u16::from_be_bytes(len.try_into().ok()?));
        let (leaf, rest) = rest.split_at_checked(len)?;
        Certificate::from_der(leaf).ok()?;
        Some((SigningKey::from_slice(key).ok()?, leaf.to_vec(), rest))
    }
    let (&version, rest) = raw.split_first()?;
    let (key, leaf_der, rest) = key_and_leaf(rest)?;
    let (enterprise, ca) = match version {
        FORMAT_VERSION => (None, rest),
        FORMAT_VERSION_ENTERPRISE => {
            let (ep_key, ep_leaf, rest) = key_and_leaf(rest)?;
            (Some((ep_key, ep_leaf)), rest)
        }
        _ => return None,
    };
    Certificate::from_der(ca).ok()?;
    Some(BatchAttestation {
        key,
        leaf_der,
        ca_der: ca.to_vec(),
        enterprise,
    })
}

/// The stored per-device U2F attestation (certificate DER, key), if any.
pub(crate) fn load_u2f<S: Store + ?Sized>(
    store: &S,
) -> Result<Option<(Vec<u8>, SigningKey)>, StoreError> {
    let Some(raw) = store.get(U2F_ATTESTATION)? else {
        return Ok(None);
    };
    parse_u2f(&raw)
        .map(Some)
        .ok_or_else(|| StoreError::corrupt("U2F attestation record"))
}

fn parse_u2f(raw: &[u8]) -> Option<(Vec<u8>, SigningKey)> {
    let (&FORMAT_VERSION, rest) = raw.split_first()? else {
        return None;
    };
    let (key, der) = rest.split_at_checked(32)?;
    Certificate::from_der(der).ok()?;
    Some((der.to_vec(), SigningKey::from_slice(key).ok()?))
}

/// A new self-signed U2F attestation certificate and its key (not stored:
/// see [`save_u2f`]).
pub(crate) fn create_u2f(
    fill_random: &mut dyn FnMut(&mut [u8]),
    now_unix: u64,
) -> Result<(Vec<u8>, SigningKey), StoreError> {
    let key = random_key(fill_random).map_err(store_error)?;
    let name = Name::from_str(&format!(
        "CN=softkey U2F Attestation,OU={ATTESTATION_OU},O=softkey,C=US"
    ))
    .map_err(|e| store_error(e.into()))?;
    let profile = Profile {
        subject: name.clone(),
        issuer: name,
        ca: false,
        aaguid: None,
        extra: Vec::new(),
    };
    let der = build(
        profile,
        &key,
        &key,
        fill_random,
        Duration::from_secs(now_unix),
    )
    .map_err(store_error)?;
    Ok((der, key))
}

pub(crate) fn save_u2f<S: Store + ?Sized>(
    store: &mut S,
    der: &[u8],
    key: &SigningKey,
) -> Result<(), StoreError> {
    let mut record = Zeroizing::new(vec![FORMAT_VERSION]);
    record.extend_from_slice(&key.to_bytes());
    record.extend_from_slice(der);
    store.put(U2F_ATTESTATION, &record)
}

/// A fresh CA and batch leaf, and the CA key (which the caller drops unless
/// it provisions a test-lab key).
fn create_batch(
    fill_random: &mut dyn FnMut(&mut [u8]),
    aaguid: [u8; 16],
    now: Duration,
) -> Result<(BatchAttestation, SigningKey), TextError> {
    let ca_key = random_key(fill_random)?;
    let batch_key = random_key(fill_random)?;
    let mut tag = [0u8; 4];
    fill_random(&mut tag);
    // A per-installation CA name, so two softkey CAs are never confused.
    let ca_name = Name::from_str(&format!(
        "CN=softkey Attestation CA {},O=softkey,C=US",
        hex(&tag)
    ))?;
    let ca_der = build(
        Profile {
            subject: ca_name.clone(),
            issuer: ca_name.clone(),
            ca: true,
            aaguid: None,
            extra: Vec::new(),
        },
        &ca_key,
        &ca_key,
        fill_random,
        now,
    )?;
    let leaf_name = Name::from_str(&format!(
        "CN=softkey Batch Attestation,OU={ATTESTATION_OU},O=softkey,C=US"
    ))?;
    let leaf_der = build(
        Profile {
            subject: leaf_name,
            issuer: ca_name.clone(),
            ca: false,
            aaguid: Some(aaguid),
            extra: Vec::new(),
        },
        &batch_key,
        &ca_key,
        fill_random,
        now,
    )?;
    // CTAP 2.1 §7.1: an enterprise attestation may identify the device;
    // this leaf is this installation's alone.
    let ep_key = random_key(fill_random)?;
    let ep_name = Name::from_str(&format!(
        "CN=softkey Enterprise Attestation {},OU={ATTESTATION_OU},O=softkey,C=US",
        hex(&tag)
    ))?;
    let ep_leaf = build(
        Profile {
            subject: ep_name,
            issuer: ca_name,
            ca: false,
            aaguid: Some(aaguid),
            extra: Vec::new(),
        },
        &ep_key,
        &ca_key,
        fill_random,
        now,
    )?;
    Ok((
        BatchAttestation {
            key: batch_key,
            leaf_der,
            ca_der,
            enterprise: Some((ep_key, ep_leaf)),
        },
        ca_key,
    ))
}

/// Issues a certificate for `subject_key`, signed by `issuer_key`.
fn build(
    profile: Profile,
    subject_key: &SigningKey,
    issuer_key: &SigningKey,
    fill_random: &mut dyn FnMut(&mut [u8]),
    now: Duration,
) -> Result<Vec<u8>, TextError> {
    let spki = SubjectPublicKeyInfo::from_key(subject_key.verifying_key())?;
    build_spki(profile, spki, issuer_key, fill_random, now)
}

/// [`build`] for a subject known by its public key alone.
fn build_spki(
    profile: Profile,
    spki: x509_cert::spki::SubjectPublicKeyInfoOwned,
    issuer_key: &SigningKey,
    fill_random: &mut dyn FnMut(&mut [u8]),
    now: Duration,
) -> Result<Vec<u8>, TextError> {
    // RFC 5280 §4.1.2.2: a positive serial of at most 20 octets; 16 random
    // ones with the top bit clear (and the next set, so none is dropped).
    let mut serial = [0u8; 16];
    fill_random(&mut serial);
    if let Some(first) = serial.first_mut() {
        *first = (*first & 0x7F) | 0x40;
    }
    let not_before = der::DateTime::from_unix_duration(now.saturating_sub(CLOCK_SKEW))?;
    // RFC 5280 §4.1.2.5: notAfter 99991231235959Z means "no expiry".
    let validity = Validity::new(Time::from(not_before), Time::INFINITY);
    let builder = CertificateBuilder::new(profile, SerialNumber::new(&serial)?, validity, spki)?;
    let cert = builder.build::<_, DerSignature>(issuer_key)?;
    Ok(cert.to_der()?)
}

/// The extensions of our three kinds of certificate.
struct Profile {
    subject: Name,
    issuer: Name,
    ca: bool,
    aaguid: Option<[u8; 16]>,
    /// Format-specific extensions (test-lab certificates only).
    extra: Vec<Extension>,
}

impl BuilderProfile for Profile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        // WebAuthn §8.2.1: Basic Constraints with CA false for the leaf.
        let basic = BasicConstraints {
            ca: self.ca,
            path_len_constraint: self.ca.then_some(0),
        };
        let usage = if self.ca {
            KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign)
        } else {
            KeyUsage(KeyUsages::DigitalSignature.into())
        };
        let mut out = vec![
            extension(BasicConstraints::OID, true, &basic)?,
            extension(KeyUsage::OID, true, &usage)?,
            extension(
                SubjectKeyIdentifier::OID,
                false,
                &SubjectKeyIdentifier::try_from(spk.clone())?,
            )?,
        ];
        if spk != issuer_spk {
            out.push(extension(
                AuthorityKeyIdentifier::OID,
                false,
                &AuthorityKeyIdentifier::try_from(issuer_spk)?,
            )?);
        }
        if let Some(aaguid) = &self.aaguid {
            // The AAGUID as an OCTET STRING inside extnValue, not critical.
            out.push(extension(
                ID_FIDO_GEN_CE_AAGUID,
                false,
                &OctetString::new(aaguid.as_slice())?,
            )?);
        }
        out.extend(self.extra.iter().cloned());
        Ok(out)
    }
}

fn extension(
    oid: ObjectIdentifier,
    critical: bool,
    value: &impl Encode,
) -> Result<Extension, der::Error> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

/// A fresh P-256 key (a TPM attestation identity key, `attestation_formats`).
pub(crate) fn random_signing_key(
    fill_random: &mut dyn FnMut(&mut [u8]),
) -> Result<SigningKey, StoreError> {
    random_key(fill_random).map_err(store_error)
}

/// A P-256 key from 32 random bytes, redrawn while out of range.
fn random_key(fill_random: &mut dyn FnMut(&mut [u8])) -> Result<SigningKey, TextError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    for _ in 0..MAX_KEYGEN_ATTEMPTS {
        fill_random(bytes.as_mut_slice());
        if let Ok(key) = SigningKey::from_slice(bytes.as_slice()) {
            return Ok(key);
        }
    }
    Err(TextError("the random number generator is stuck".into()))
}

fn ca_pem(ca_der: &[u8]) -> Result<String, TextError> {
    Ok(Certificate::from_der(ca_der)?.to_pem(LineEnding::LF)?)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Why a certificate could not be made (all internal: DER, keys, RNG).
#[derive(Debug)]
struct TextError(String);

impl From<der::Error> for TextError {
    fn from(e: der::Error) -> Self {
        TextError(e.to_string())
    }
}

impl From<x509_cert::builder::Error> for TextError {
    fn from(e: x509_cert::builder::Error) -> Self {
        TextError(e.to_string())
    }
}

impl From<x509_cert::spki::Error> for TextError {
    fn from(e: x509_cert::spki::Error) -> Self {
        TextError(e.to_string())
    }
}

fn store_error(error: TextError) -> StoreError {
    StoreError::corrupt(format!("attestation: {}", error.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryStore, SeededRng};
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;
    use x509_cert::certificate::Version;

    const AAGUID: [u8; 16] = [0xA5; 16];

    fn provisioned(seed: u64) -> (MemoryStore, String) {
        let mut store = MemoryStore::default();
        let mut rng = SeededRng::new(seed);
        let pem = provision_attestation(&mut store, &mut |b| rng.fill(b), AAGUID).unwrap();
        (store, pem)
    }

    fn public_key(cert: &Certificate) -> VerifyingKey {
        let spki = &cert.tbs_certificate().subject_public_key_info();
        VerifyingKey::from_sec1_bytes(spki.subject_public_key.raw_bytes()).unwrap()
    }

    fn find_ext(cert: &Certificate, oid: ObjectIdentifier) -> Option<&Extension> {
        cert.tbs_certificate()
            .extensions()?
            .iter()
            .find(|e| e.extn_id == oid)
    }

    /// `issuer` signed `cert` (ECDSA-SHA256 over the TBS DER).
    fn verify_signed_by(cert: &Certificate, issuer: &VerifyingKey) {
        let tbs = cert.tbs_certificate().to_der().unwrap();
        let sig = DerSignature::from_bytes(cert.signature().raw_bytes()).unwrap();
        issuer.verify(&tbs, &sig).unwrap();
    }

    #[test]
    fn batch_leaf_meets_webauthn_8_2_1_and_chains_to_the_ca() {
        let (store, pem) = provisioned(1);
        let batch = load_batch(&store).unwrap().unwrap();
        let leaf = Certificate::from_der(&batch.leaf_der).unwrap();
        let ca = Certificate::from_der(&batch.ca_der).unwrap();
        assert!(batch.leaf_der.len() < 700, "{}", batch.leaf_der.len());
        // Version 3; subject C, O, OU = "Authenticator Attestation", CN.
        assert_eq!(leaf.tbs_certificate().version(), Version::V3);
        let subject = leaf.tbs_certificate().subject().to_string();
        for part in [
            "CN=softkey Batch Attestation",
            "OU=Authenticator Attestation",
            "O=softkey",
            "C=US",
        ] {
            assert!(subject.contains(part), "{subject}");
        }
        assert_eq!(
            leaf.tbs_certificate().issuer(),
            ca.tbs_certificate().subject()
        );
        // Basic Constraints CA false.
        let basic = find_ext(&leaf, BasicConstraints::OID).unwrap();
        let basic = BasicConstraints::from_der(basic.extn_value.as_bytes()).unwrap();
        assert!(!basic.ca);
        // id-fido-gen-ce-aaguid: OCTET STRING of the AAGUID, not critical.
        let ext = find_ext(&leaf, ID_FIDO_GEN_CE_AAGUID).unwrap();
        assert!(!ext.critical);
        let inner = OctetString::from_der(ext.extn_value.as_bytes()).unwrap();
        assert_eq!(inner.as_bytes(), AAGUID);
        // The CA signed the leaf; the CA signed itself; the key matches the leaf.
        verify_signed_by(&leaf, &public_key(&ca));
        verify_signed_by(&ca, &public_key(&ca));
        assert_eq!(&public_key(&leaf), batch.key.verifying_key());
        let ca_basic = find_ext(&ca, BasicConstraints::OID).unwrap();
        assert!(ca_basic.critical);
        assert!(
            BasicConstraints::from_der(ca_basic.extn_value.as_bytes())
                .unwrap()
                .ca
        );
        assert!(find_ext(&ca, ID_FIDO_GEN_CE_AAGUID).is_none());
        // The PEM is the CA certificate.
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        let (label, der) = der::pem::decode_vec(pem.as_bytes()).unwrap();
        assert_eq!(label, "CERTIFICATE");
        assert_eq!(der, batch.ca_der);
    }

    #[test]
    fn provisioning_is_stored_once_and_never_replaced() {
        let (mut store, pem) = provisioned(2);
        assert_eq!(attestation_ca_pem(&store).unwrap(), Some(pem.clone()));
        let before = store.get(ATTESTATION).unwrap();
        let mut rng = SeededRng::new(99);
        let again = provision_attestation(&mut store, &mut |b| rng.fill(b), AAGUID).unwrap();
        assert_eq!(again, pem);
        assert_eq!(store.get(ATTESTATION).unwrap(), before);
        // Two installations get different CAs.
        assert_ne!(provisioned(3).1, pem);
        assert_eq!(attestation_ca_pem(&MemoryStore::default()).unwrap(), None);
    }

    #[test]
    fn corrupt_records_are_errors_not_panics() {
        let mut store = MemoryStore::default();
        for bad in [&[][..], &[1], &[2; 40], &[1; 34], &[1; 40]] {
            store.put(ATTESTATION, bad).unwrap();
            assert!(load_batch(&store).is_err(), "{bad:?}");
            assert!(attestation_ca_pem(&store).is_err());
            store.put(U2F_ATTESTATION, bad).unwrap();
            assert!(load_u2f(&store).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn stuck_rng_cannot_make_keys() {
        let mut store = MemoryStore::default();
        let result = provision_attestation(&mut store, &mut |b| b.fill(0), AAGUID);
        assert!(result.is_err());
        assert!(store.get(ATTESTATION).unwrap().is_none());
    }

    #[test]
    fn u2f_certificate_is_self_signed_and_round_trips() {
        let mut rng = SeededRng::new(4);
        let (der, key) = create_u2f(&mut |b| rng.fill(b), 1_800_000_000).unwrap();
        let cert = Certificate::from_der(&der).unwrap();
        verify_signed_by(&cert, key.verifying_key());
        assert_eq!(
            cert.tbs_certificate().subject(),
            cert.tbs_certificate().issuer()
        );
        let not_before = cert.tbs_certificate().validity().not_before;
        assert_eq!(
            not_before.to_unix_duration(),
            Duration::from_secs(1_800_000_000) - CLOCK_SKEW
        );
        let mut store = MemoryStore::default();
        save_u2f(&mut store, &der, &key).unwrap();
        let (der2, key2) = load_u2f(&store).unwrap().unwrap();
        assert_eq!(der2, der);
        assert_eq!(key2, key);
    }

    #[test]
    fn debug_hides_the_key() {
        let (store, _) = provisioned(5);
        let batch = load_batch(&store).unwrap().unwrap();
        let debug = format!("{batch:?}");
        assert!(
            debug.starts_with("BatchAttestation { leaf_der: "),
            "{debug}"
        );
        assert!(!debug.contains("key"), "{debug}");
    }
}
