//! authenticatorGetAssertion / authenticatorGetNextAssertion (CTAP 2.1 §6.2, §6.3):
//! canonical request encoding and a response parser that checks canonical CBOR, the
//! rpIdHash, the flags against the requested options, and the credential against the
//! allowList; [`Assertion::verify`] checks the ES256 signature (WebAuthn L2 §7.2 step 20).

use super::auth_data::AuthData;
use super::cbor::{
    MapView, Value, as_bool, as_bytes, as_text, as_uint, decode_canonical, encode, int, text,
};
use super::make_credential::{UserEntity, descriptor, options};
use super::public_key::CredentialPublicKey;
use crate::Error;

/// A getAssertion request; `extra` entries are added to the top-level map verbatim.
#[derive(Debug, Clone, PartialEq)]
pub struct GetAssertionRequest {
    pub rp_id: String,
    pub client_data_hash: [u8; 32],
    pub allow_list: Vec<Vec<u8>>,
    pub up: Option<bool>,
    pub uv: Option<bool>,
    pub extra: Vec<(Value, Value)>,
}

impl GetAssertionRequest {
    /// No allowList (discoverable credentials), no options.
    pub fn new(rp_id: &str, client_data_hash: [u8; 32]) -> Self {
        GetAssertionRequest {
            rp_id: rp_id.to_string(),
            client_data_hash,
            allow_list: Vec::new(),
            up: None,
            uv: None,
            extra: Vec::new(),
        }
    }

    /// The canonical CBOR request parameters (CTAP 2.1 §6.2 keys 0x01–0x05).
    pub fn encode(&self) -> Vec<u8> {
        let mut m = vec![
            (int(1), text(&self.rp_id)),
            (int(2), Value::Bytes(self.client_data_hash.to_vec())),
        ];
        if !self.allow_list.is_empty() {
            m.push((
                int(3),
                Value::Array(self.allow_list.iter().map(|i| descriptor(i)).collect()),
            ));
        }
        if let Some(o) = options(&[("up", self.up), ("uv", self.uv)]) {
            m.push((int(5), o));
        }
        m.extend(self.extra.iter().cloned());
        encode(&Value::Map(m))
    }
}

/// A parsed getAssertion / getNextAssertion response.
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    /// The RP ID the request named (the rpIdHash was checked against it).
    pub rp_id: String,
    pub credential_id: Vec<u8>,
    pub auth_data: AuthData,
    pub signature: Vec<u8>,
    pub user: Option<UserEntity>,
    pub number_of_credentials: Option<u64>,
    pub user_selected: Option<bool>,
    pub large_blob_key: Option<Vec<u8>>,
    /// The response body as received (canonical CBOR).
    pub raw: Vec<u8>,
}

impl Assertion {
    /// Parses a response to a request for `rp_id` with `allow_list` and `up`.
    pub fn parse(
        bytes: &[u8],
        rp_id: &str,
        allow_list: &[Vec<u8>],
        up: Option<bool>,
    ) -> Result<Self, Error> {
        let v = decode_canonical(bytes)?;
        let m = MapView::new(&v, "getAssertion response")?;
        m.only_int_keys(&[1, 2, 3, 4, 5, 6, 7])?;
        let credential_id = match m.get_int(1) {
            Some(c) => {
                let cm = MapView::new(c, "credential")?;
                if as_text(cm.require_text("type")?, "credential.type")? != "public-key" {
                    return Err(Error::cbor("credential.type is not public-key"));
                }
                as_bytes(cm.require_text("id")?, "credential.id")?.to_vec()
            }
            // CTAP 2.1 §6.2.2: may be omitted if the allowList has exactly one item.
            None => match allow_list {
                [only] => only.clone(),
                _ => return Err(Error::cbor("response omits the credential")),
            },
        };
        if !allow_list.is_empty() && !allow_list.contains(&credential_id) {
            return Err(Error::verify("asserted credential is not in the allowList"));
        }
        let auth_data = AuthData::parse(as_bytes(m.require_int(2)?, "authData")?)?;
        auth_data.check_rp_id(rp_id)?;
        if auth_data.attested.is_some() {
            return Err(Error::verify(
                "assertion authData carries attested credential data",
            ));
        }
        // CTAP 2.1 §6.2.2 step 9: UP reflects whether presence was tested.
        let want_up = up != Some(false);
        if auth_data.up() != want_up {
            return Err(Error::verify(format!(
                "assertion UP flag is {}, expected {want_up}",
                auth_data.up()
            )));
        }
        let user = m.get_int(4).map(UserEntity::from_value).transpose()?;
        if allow_list.is_empty() && user.is_none() {
            // §6.2.2: discoverable credentials always return the user.
            return Err(Error::cbor("username-less assertion without a user"));
        }
        let number_of_credentials = m
            .get_int(5)
            .map(|v| as_uint(v, "numberOfCredentials"))
            .transpose()?;
        if number_of_credentials == Some(0) {
            return Err(Error::cbor("numberOfCredentials is 0"));
        }
        Ok(Assertion {
            rp_id: rp_id.to_string(),
            credential_id,
            signature: as_bytes(m.require_int(3)?, "signature")?.to_vec(),
            auth_data,
            user,
            number_of_credentials,
            user_selected: m
                .get_int(6)
                .map(|v| as_bool(v, "userSelected"))
                .transpose()?,
            large_blob_key: m
                .get_int(7)
                .map(|v| as_bytes(v, "largeBlobKey").map(<[u8]>::to_vec))
                .transpose()?,
            raw: bytes.to_vec(),
        })
    }

    /// Checks the rpIdHash and the signature over authData || clientDataHash with the
    /// credential's key (ES256 or EdDSA).
    pub fn verify(
        &self,
        public_key: &CredentialPublicKey,
        client_data_hash: &[u8; 32],
    ) -> Result<(), Error> {
        self.auth_data.check_rp_id(&self.rp_id)?;
        public_key.verify_webauthn(&self.auth_data.raw, client_data_hash, &self.signature)
    }

    pub fn sign_count(&self) -> u32 {
        self.auth_data.sign_count
    }

    pub fn flags(&self) -> u8 {
        self.auth_data.flags
    }
}

#[cfg(test)]
mod tests {
    use super::super::auth_data::flags;
    use super::super::auth_data::tests::{auth_data, key, sign};
    use super::*;

    #[test]
    fn request_encoding_is_exact() {
        let mut r = GetAssertionRequest::new("a", [1; 32]);
        r.allow_list = vec![vec![5]];
        r.up = Some(false);
        let mut want = vec![0xA4, 0x01, 0x61, b'a', 0x02, 0x58, 0x20];
        want.extend_from_slice(&[1; 32]);
        want.extend_from_slice(&[0x03, 0x81, 0xA2, 0x62, b'i', b'd', 0x41, 0x05]);
        want.extend_from_slice(&[0x64, b't', b'y', b'p', b'e', 0x6A]);
        want.extend_from_slice(b"public-key");
        want.extend_from_slice(&[0x05, 0xA1, 0x62, b'u', b'p', 0xF4]);
        assert_eq!(r.encode(), want);
        assert_eq!(GetAssertionRequest::new("a", [1; 32]).encode()[0], 0xA2);
    }

    fn response(
        cred: Option<&[u8]>,
        ad: &[u8],
        sig: &[u8],
        user: Option<&UserEntity>,
        n: Option<i64>,
    ) -> Vec<u8> {
        let mut m = Vec::new();
        if let Some(c) = cred {
            m.push((int(1), descriptor(c)));
        }
        m.push((int(2), Value::Bytes(ad.to_vec())));
        m.push((int(3), Value::Bytes(sig.to_vec())));
        if let Some(u) = user {
            m.push((int(4), u.to_value()));
        }
        if let Some(n) = n {
            m.push((int(5), int(n)));
        }
        encode(&Value::Map(m))
    }

    #[test]
    fn assertion_verifies_and_tampering_fails() {
        let k = key(9);
        let cdh = [0x33; 32];
        let ad = auth_data("example.com", flags::UP, 7, None);
        let sig = sign(&k, &ad, &cdh);
        let user = UserEntity {
            id: vec![1],
            name: Some("a".into()),
            display_name: None,
        };
        let b = response(Some(&[8; 16]), &ad, &sig, Some(&user), Some(2));
        let a = Assertion::parse(&b, "example.com", &[], None).unwrap();
        assert_eq!(a.credential_id, vec![8; 16]);
        assert_eq!(a.user, Some(user));
        assert_eq!(a.number_of_credentials, Some(2));
        assert_eq!(a.sign_count(), 7);
        a.verify(&CredentialPublicKey::from(*k.verifying_key()), &cdh)
            .unwrap();
        assert!(
            a.verify(&CredentialPublicKey::from(*k.verifying_key()), &[0x34; 32])
                .is_err()
        );
        assert!(
            a.verify(&CredentialPublicKey::from(*key(10).verifying_key()), &cdh)
                .is_err()
        );
        let mut tampered = a.clone();
        tampered.auth_data.raw[33] ^= 0x04;
        assert!(
            tampered
                .verify(&CredentialPublicKey::from(*k.verifying_key()), &cdh)
                .is_err()
        );
        let mut other_rp = a;
        other_rp.rp_id = "example.org".into();
        assert!(
            other_rp
                .verify(&CredentialPublicKey::from(*k.verifying_key()), &cdh)
                .is_err()
        );
    }

    #[test]
    fn response_checks() {
        let k = key(9);
        let ad = auth_data("example.com", flags::UP, 7, None);
        let sig = sign(&k, &ad, &[0; 32]);
        // Credential omitted with a one-entry allowList: taken from the list.
        let b = response(None, &ad, &sig, None, None);
        let a = Assertion::parse(&b, "example.com", &[vec![3]], None).unwrap();
        assert_eq!(a.credential_id, vec![3]);
        assert!(Assertion::parse(&b, "example.com", &[], None).is_err());
        // Not in the allowList.
        let b = response(Some(&[4]), &ad, &sig, None, None);
        assert!(Assertion::parse(&b, "example.com", &[vec![3]], None).is_err());
        // Wrong RP, UP mismatch, username-less without a user.
        assert!(Assertion::parse(&b, "example.org", &[vec![4]], None).is_err());
        assert!(Assertion::parse(&b, "example.com", &[vec![4]], Some(false)).is_err());
        assert!(Assertion::parse(&b, "example.com", &[], None).is_err());
    }
}
