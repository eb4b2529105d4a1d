//! Packed attestation with a certificate chain (WebAuthn L2 §8.2 "Packed Attestation
//! Statement Format", §8.2.1 certificate requirements): the statement's signature must
//! verify with the leaf certificate's key, the leaf must not be a CA, and an
//! id-fido-gen-ce-aaguid extension, when present, must equal the authData AAGUID.
//! [`BatchAttestation::verify_issued_by`] checks the leaf against a CA the RP trusts.

use der::{Decode, Encode};
use p256::ecdsa::VerifyingKey;
use p256::pkcs8::DecodePublicKey;
use x509_cert::Certificate;

use super::cbor::{Value, as_array, as_bytes};
use super::public_key::CredentialPublicKey;
use crate::Error;

/// id-fido-gen-ce-aaguid (FIDO Metadata / WebAuthn §8.2.1).
const FIDO_AAGUID_OID: &str = "1.3.6.1.4.1.45724.1.1.4";
/// id-ce-basicConstraints.
const BASIC_CONSTRAINTS_OID: &str = "2.5.29.19";

/// What a verified packed x5c statement showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchAttestation {
    /// DER certificates as sent, leaf first.
    pub chain: Vec<Vec<u8>>,
    /// The leaf's subject, as RFC 4514 text.
    pub subject: String,
    /// The AAGUID in the leaf's FIDO extension, if it has one.
    pub aaguid_extension: Option<[u8; 16]>,
}

pub(crate) fn verify_packed_x5c(
    x5c: &Value,
    alg: i128,
    sig: &[u8],
    auth_data: &[u8],
    client_data_hash: &[u8; 32],
    aaguid: [u8; 16],
) -> Result<BatchAttestation, Error> {
    let certs = as_array(x5c, "x5c")?;
    let chain: Vec<Vec<u8>> = certs
        .iter()
        .map(|c| as_bytes(c, "x5c certificate").map(<[u8]>::to_vec))
        .collect::<Result<_, _>>()?;
    let leaf_der = chain.first().ok_or_else(|| Error::verify("x5c is empty"))?;
    let leaf = parse(leaf_der)?;
    if alg != -7 {
        return Err(Error::verify(format!(
            "x5c attestation alg {alg}; only ES256 is verified"
        )));
    }
    let key = CredentialPublicKey::Es256(leaf_key(&leaf)?);
    key.verify_webauthn(auth_data, client_data_hash, sig)
        .map_err(|_| {
            Error::verify("attestation signature does not verify with the x5c leaf key")
        })?;
    let mut aaguid_extension = None;
    for ext in leaf.tbs_certificate().extensions().into_iter().flatten() {
        let oid = ext.extn_id.to_string();
        if oid == FIDO_AAGUID_OID {
            // extnValue holds a DER OCTET STRING of 16 bytes.
            let inner = der::asn1::OctetString::from_der(ext.extn_value.as_bytes())
                .map_err(|_| Error::verify("FIDO AAGUID extension is not an OCTET STRING"))?;
            let value: [u8; 16] = inner
                .as_bytes()
                .try_into()
                .map_err(|_| Error::verify("FIDO AAGUID extension is not 16 bytes"))?;
            if ext.critical {
                return Err(Error::verify("FIDO AAGUID extension must not be critical"));
            }
            if value != aaguid {
                return Err(Error::verify(
                    "x5c AAGUID extension differs from authData AAGUID",
                ));
            }
            aaguid_extension = Some(value);
        }
        if oid == BASIC_CONSTRAINTS_OID {
            let bc = x509_cert::ext::pkix::BasicConstraints::from_der(ext.extn_value.as_bytes())
                .map_err(|_| Error::verify("basicConstraints does not parse"))?;
            if bc.ca {
                return Err(Error::verify("the attestation leaf certificate is a CA"));
            }
        }
    }
    Ok(BatchAttestation {
        subject: leaf.tbs_certificate().subject().to_string(),
        chain,
        aaguid_extension,
    })
}

impl BatchAttestation {
    /// [`Self::verify_issued_by`] for a CA given as PEM (as `softkey attestation-ca` prints it).
    pub fn verify_issued_by_pem(&self, ca_pem: &str) -> Result<(), Error> {
        use der::DecodePem;
        let ca = Certificate::from_pem(ca_pem.trim())
            .map_err(|e| Error::verify(format!("CA certificate PEM: {e}")))?;
        let der = ca
            .to_der()
            .map_err(|_| Error::verify("CA certificate does not re-encode"))?;
        self.verify_issued_by(&der)
    }

    /// Checks that the leaf was signed (ecdsa-with-SHA256) by the CA in `ca_der`.
    pub fn verify_issued_by(&self, ca_der: &[u8]) -> Result<(), Error> {
        let leaf = parse(
            self.chain
                .first()
                .ok_or_else(|| Error::verify("x5c is empty"))?,
        )?;
        let ca = parse(ca_der)?;
        if leaf.tbs_certificate().issuer() != ca.tbs_certificate().subject() {
            return Err(Error::verify("the leaf's issuer is not the CA's subject"));
        }
        let tbs = leaf
            .tbs_certificate()
            .to_der()
            .map_err(|_| Error::verify("leaf TBSCertificate does not re-encode"))?;
        let sig = leaf
            .signature()
            .as_bytes()
            .ok_or_else(|| Error::verify("leaf signature is not a whole number of bytes"))?;
        CredentialPublicKey::Es256(leaf_key(&ca)?)
            .verify(&tbs, sig)
            .map_err(|_| Error::verify("the CA's signature on the leaf does not verify"))
    }
}

fn parse(der_bytes: &[u8]) -> Result<Certificate, Error> {
    Certificate::from_der(der_bytes).map_err(|e| Error::verify(format!("certificate: {e}")))
}

fn leaf_key(cert: &Certificate) -> Result<VerifyingKey, Error> {
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|_| Error::verify("certificate key does not re-encode"))?;
    VerifyingKey::from_public_key_der(&spki)
        .map_err(|_| Error::verify("certificate key is not a P-256 key"))
}
