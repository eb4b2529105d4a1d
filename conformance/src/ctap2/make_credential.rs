//! authenticatorMakeCredential (CTAP 2.1 §6.1): canonical request encoding, and a
//! response parser that verifies everything it can: canonical CBOR, authData with
//! attested credential data, rpIdHash, UP, and packed self-attestation (WebAuthn L2
//! §8.2) or the empty statement of `none` (§8.7).

use super::auth_data::{AttestedCredential, AuthData};
use super::cbor::{
    MapView, Value, as_bool, as_bytes, as_int, as_text, decode_canonical, encode, int, text,
};
use super::public_key::{COSE_ES256, CredentialPublicKey};
use super::x5c::{BatchAttestation, verify_packed_x5c};
use crate::Error;

/// PublicKeyCredentialRpEntity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpEntity {
    pub id: String,
    pub name: Option<String>,
}

/// PublicKeyCredentialUserEntity.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserEntity {
    pub id: Vec<u8>,
    pub name: Option<String>,
    pub display_name: Option<String>,
}

impl UserEntity {
    pub(crate) fn to_value(&self) -> Value {
        let mut m = vec![(text("id"), Value::Bytes(self.id.clone()))];
        if let Some(n) = &self.name {
            m.push((text("name"), text(n)));
        }
        if let Some(d) = &self.display_name {
            m.push((text("displayName"), text(d)));
        }
        Value::Map(m)
    }

    pub(crate) fn from_value(v: &Value) -> Result<Self, Error> {
        let m = MapView::new(v, "user")?;
        let opt = |k: &str| -> Result<Option<String>, Error> {
            m.get_text(k)
                .map(|v| as_text(v, k).map(str::to_string))
                .transpose()
        };
        Ok(UserEntity {
            id: as_bytes(m.require_text("id")?, "user.id")?.to_vec(),
            name: opt("name")?,
            display_name: opt("displayName")?,
        })
    }
}

/// A PublicKeyCredentialDescriptor list entry of type "public-key".
pub(crate) fn descriptor(id: &[u8]) -> Value {
    Value::Map(vec![
        (text("id"), Value::Bytes(id.to_vec())),
        (text("type"), text("public-key")),
    ])
}

/// The `options` map, if any option is set.
pub(crate) fn options(pairs: &[(&str, Option<bool>)]) -> Option<Value> {
    let m: Vec<(Value, Value)> = pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| (text(k), Value::Bool(v))))
        .collect();
    (!m.is_empty()).then_some(Value::Map(m))
}

/// A makeCredential request; `extra` entries are added to the top-level map verbatim
/// (an escape hatch for malformed-input tests).
#[derive(Debug, Clone, PartialEq)]
pub struct MakeCredentialRequest {
    pub client_data_hash: [u8; 32],
    pub rp: RpEntity,
    pub user: UserEntity,
    /// COSE algorithms offered, in order (default `[-7]`).
    pub pub_key_cred_params: Vec<i64>,
    pub exclude_list: Vec<Vec<u8>>,
    pub rk: Option<bool>,
    pub up: Option<bool>,
    pub uv: Option<bool>,
    pub extra: Vec<(Value, Value)>,
}

impl MakeCredentialRequest {
    /// ES256, no exclude list, no options.
    pub fn new(client_data_hash: [u8; 32], rp_id: &str, user_id: &[u8]) -> Self {
        MakeCredentialRequest {
            client_data_hash,
            rp: RpEntity {
                id: rp_id.to_string(),
                name: None,
            },
            user: UserEntity {
                id: user_id.to_vec(),
                name: None,
                display_name: None,
            },
            pub_key_cred_params: vec![COSE_ES256],
            exclude_list: Vec::new(),
            rk: None,
            up: None,
            uv: None,
            extra: Vec::new(),
        }
    }

    /// The canonical CBOR request parameters (CTAP 2.1 §6.1 keys 0x01–0x07).
    pub fn encode(&self) -> Vec<u8> {
        let mut rp = vec![(text("id"), text(&self.rp.id))];
        if let Some(n) = &self.rp.name {
            rp.push((text("name"), text(n)));
        }
        let params = self
            .pub_key_cred_params
            .iter()
            .map(|a| {
                Value::Map(vec![
                    (text("alg"), int(*a)),
                    (text("type"), text("public-key")),
                ])
            })
            .collect();
        let mut m = vec![
            (int(1), Value::Bytes(self.client_data_hash.to_vec())),
            (int(2), Value::Map(rp)),
            (int(3), self.user.to_value()),
            (int(4), Value::Array(params)),
        ];
        if !self.exclude_list.is_empty() {
            m.push((
                int(5),
                Value::Array(self.exclude_list.iter().map(|i| descriptor(i)).collect()),
            ));
        }
        if let Some(o) = options(&[("rk", self.rk), ("up", self.up), ("uv", self.uv)]) {
            m.push((int(7), o));
        }
        m.extend(self.extra.iter().cloned());
        encode(&Value::Map(m))
    }
}

/// What was verified about the attestation statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttestationCheck {
    /// `packed` without x5c: signature verified with the credential key.
    SelfAttestation,
    /// `none` with an empty statement.
    NoneFormat,
    /// `packed` with an x5c chain: the signature verified with the leaf's key, the leaf
    /// is not a CA and its AAGUID extension (if any) matches.
    Batch(BatchAttestation),
    /// Another format, not verified.
    UnknownFormat(String),
}

/// One line for a report: what kind, and for a chain its leaf and length
/// (the DER bytes themselves would be thousands of characters).
impl std::fmt::Display for AttestationCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttestationCheck::SelfAttestation => f.write_str("self attestation, verified"),
            AttestationCheck::NoneFormat => f.write_str("none"),
            AttestationCheck::Batch(batch) => write!(
                f,
                "x5c chain of {} certificate{}, leaf {:?}, verified",
                batch.chain.len(),
                if batch.chain.len() == 1 { "" } else { "s" },
                batch.subject
            ),
            AttestationCheck::UnknownFormat(fmt) => write!(f, "format {fmt:?}, not verified"),
        }
    }
}

/// A verified makeCredential response.
#[derive(Debug, Clone, PartialEq)]
pub struct Attestation {
    pub fmt: String,
    pub auth_data: AuthData,
    pub att_stmt: Value,
    pub check: AttestationCheck,
    /// The attested credential data of `auth_data`.
    pub credential: AttestedCredential,
    pub ep_att: Option<bool>,
    pub large_blob_key: Option<Vec<u8>>,
    /// The response body as received (canonical CBOR).
    pub raw: Vec<u8>,
}

impl Attestation {
    /// Parses and verifies a response to `req`.
    pub fn parse(bytes: &[u8], req: &MakeCredentialRequest) -> Result<Self, Error> {
        let v = decode_canonical(bytes)?;
        let m = MapView::new(&v, "makeCredential response")?;
        m.only_int_keys(&[1, 2, 3, 4, 5])?;
        let fmt = as_text(m.require_int(1)?, "fmt")?.to_string();
        let auth_data = AuthData::parse(as_bytes(m.require_int(2)?, "authData")?)?;
        let att_stmt = m.require_int(3)?.clone();
        auth_data.check_rp_id(&req.rp.id)?;
        // CTAP 2.1 §6.1.2 step 14: UP is set whenever presence was collected.
        if req.up != Some(false) && !auth_data.up() {
            return Err(Error::verify("makeCredential authData has UP clear"));
        }
        let cred = auth_data
            .attested
            .as_ref()
            .ok_or_else(|| Error::verify("makeCredential authData has no attested credential"))?;
        let check = check_statement(&fmt, &att_stmt, cred, &auth_data.raw, &req.client_data_hash)?;
        let credential = cred.clone();
        Ok(Attestation {
            fmt,
            check,
            credential,
            att_stmt,
            ep_att: m.get_int(4).map(|v| as_bool(v, "epAtt")).transpose()?,
            large_blob_key: m
                .get_int(5)
                .map(|v| as_bytes(v, "largeBlobKey").map(<[u8]>::to_vec))
                .transpose()?,
            auth_data,
            raw: bytes.to_vec(),
        })
    }

    fn cred(&self) -> &AttestedCredential {
        &self.credential
    }

    pub fn credential_id(&self) -> &[u8] {
        &self.cred().credential_id
    }

    pub fn public_key(&self) -> &CredentialPublicKey {
        &self.cred().public_key
    }

    pub fn aaguid(&self) -> [u8; 16] {
        self.cred().aaguid
    }

    pub fn sign_count(&self) -> u32 {
        self.auth_data.sign_count
    }

    pub fn flags(&self) -> u8 {
        self.auth_data.flags
    }
}

fn check_statement(
    fmt: &str,
    st: &Value,
    cred: &AttestedCredential,
    auth_data: &[u8],
    cdh: &[u8; 32],
) -> Result<AttestationCheck, Error> {
    let m = MapView::new(st, "attStmt")?;
    match fmt {
        "none" if m.entries().is_empty() => Ok(AttestationCheck::NoneFormat),
        "none" => Err(Error::verify("fmt none with a non-empty attStmt")),
        "packed" => {
            let alg = as_int(m.require_text("alg")?, "attStmt.alg")?;
            let sig = as_bytes(m.require_text("sig")?, "attStmt.sig")?;
            if let Some(x5c) = m.get_text("x5c") {
                let batch = verify_packed_x5c(x5c, alg, sig, auth_data, cdh, cred.aaguid)?;
                return Ok(AttestationCheck::Batch(batch));
            }
            // WebAuthn L2 §8.2.1 self attestation: alg matches the credential key's.
            if alg != i128::from(cred.public_key.alg()) {
                return Err(Error::verify(format!(
                    "self attestation alg {alg}, credential key alg {}",
                    cred.public_key.alg()
                )));
            }
            cred.public_key.verify_webauthn(auth_data, cdh, sig)?;
            Ok(AttestationCheck::SelfAttestation)
        }
        other => Ok(AttestationCheck::UnknownFormat(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::super::auth_data::flags;
    use super::super::auth_data::tests::{auth_data, key, sign};
    use super::*;

    fn req() -> MakeCredentialRequest {
        let mut r = MakeCredentialRequest::new([0x55; 32], "example.com", &[1, 2]);
        r.rp.name = Some("Ex".into());
        r.user.name = Some("alice".into());
        r.user.display_name = Some("Alice".into());
        r.rk = Some(true);
        r
    }

    #[test]
    fn request_encoding_is_canonical_and_exact() {
        let mut r = MakeCredentialRequest::new([0; 32], "a", &[7]);
        r.exclude_list = vec![vec![9]];
        r.up = Some(true);
        r.rk = Some(false);
        let mut want = vec![0xA6, 0x01, 0x58, 0x20];
        want.extend_from_slice(&[0; 32]);
        want.extend_from_slice(&[0x02, 0xA1, 0x62, b'i', b'd', 0x61, b'a']);
        want.extend_from_slice(&[0x03, 0xA1, 0x62, b'i', b'd', 0x41, 0x07]);
        want.extend_from_slice(&[0x04, 0x81, 0xA2, 0x63, b'a', b'l', b'g', 0x26]);
        want.extend_from_slice(&[0x64, b't', b'y', b'p', b'e']);
        want.extend_from_slice(&[0x6A]);
        want.extend_from_slice(b"public-key");
        want.extend_from_slice(&[0x05, 0x81, 0xA2, 0x62, b'i', b'd', 0x41, 0x09]);
        want.extend_from_slice(&[0x64, b't', b'y', b'p', b'e', 0x6A]);
        want.extend_from_slice(b"public-key");
        want.extend_from_slice(&[0x07, 0xA2, 0x62, b'r', b'k', 0xF4, 0x62, b'u', b'p', 0xF5]);
        assert_eq!(r.encode(), want);
        assert!(decode_canonical(&want).is_ok());
    }

    #[test]
    fn extra_keys_are_sorted_in() {
        let mut r = MakeCredentialRequest::new([0; 32], "a", &[7]);
        r.extra.push((int(6), Value::Map(vec![])));
        let b = r.encode();
        assert_eq!(b[0], 0xA5);
        let v = decode_canonical(&b).unwrap();
        let Value::Map(m) = v else { panic!() };
        assert_eq!(m[4].0, int(6));
    }

    fn response(fmt: &str, st: Value, ad: &[u8]) -> Vec<u8> {
        encode(&Value::Map(vec![
            (int(1), text(fmt)),
            (int(2), Value::Bytes(ad.to_vec())),
            (int(3), st),
        ]))
    }

    #[test]
    fn packed_self_attestation_verifies() {
        let k = key(5);
        let r = req();
        let ad = auth_data(
            "example.com",
            flags::UP | flags::AT,
            0,
            Some((&[4; 32], k.verifying_key())),
        );
        let st = Value::Map(vec![
            (text("alg"), int(-7)),
            (
                text("sig"),
                Value::Bytes(sign(&k, &ad, &r.client_data_hash)),
            ),
        ]);
        let a = Attestation::parse(&response("packed", st.clone(), &ad), &r).unwrap();
        assert_eq!(a.check, AttestationCheck::SelfAttestation);
        assert_eq!(a.credential_id(), &[4; 32]);
        assert_eq!(
            a.public_key(),
            &CredentialPublicKey::from(*k.verifying_key())
        );
        assert_eq!(a.sign_count(), 0);
        assert_eq!(a.flags(), flags::UP | flags::AT);

        let mut other = req();
        other.client_data_hash = [0x56; 32];
        assert!(Attestation::parse(&response("packed", st.clone(), &ad), &other).is_err());
        let mut wrong_rp = req();
        wrong_rp.rp.id = "example.org".into();
        assert!(Attestation::parse(&response("packed", st, &ad), &wrong_rp).is_err());
    }

    #[test]
    fn none_and_x5c_and_missing_parts() {
        let k = key(5);
        let r = req();
        let ad = auth_data(
            "example.com",
            flags::UP | flags::AT,
            0,
            Some((&[4; 16], k.verifying_key())),
        );
        let a = Attestation::parse(&response("none", Value::Map(vec![]), &ad), &r).unwrap();
        assert_eq!(a.check, AttestationCheck::NoneFormat);
        let x5c = Value::Map(vec![
            (text("alg"), int(-7)),
            (text("sig"), Value::Bytes(vec![0x30])),
            (text("x5c"), Value::Array(vec![Value::Bytes(vec![0x30])])),
        ]);
        // An x5c entry that is not a certificate is a verification failure, not a pass.
        let err = Attestation::parse(&response("packed", x5c, &ad), &r).unwrap_err();
        assert!(matches!(err, Error::Verify(_)), "{err:?}");

        let no_up = auth_data(
            "example.com",
            flags::AT,
            0,
            Some((&[4; 16], k.verifying_key())),
        );
        assert!(Attestation::parse(&response("none", Value::Map(vec![]), &no_up), &r).is_err());
        let no_at = auth_data("example.com", flags::UP, 0, None);
        assert!(Attestation::parse(&response("none", Value::Map(vec![]), &no_at), &r).is_err());
    }

    #[test]
    fn user_entity_round_trips() {
        let u = req().user;
        assert_eq!(UserEntity::from_value(&u.to_value()).unwrap(), u);
        assert!(UserEntity::from_value(&Value::Map(vec![])).is_err());
    }
}
