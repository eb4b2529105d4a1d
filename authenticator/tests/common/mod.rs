//! A tiny CTAP2 client for the scenario tests: builds requests as CBOR
//! values, runs them through `process_cbor` on a deterministic `TestEnv`,
//! checks every response is canonical, and verifies signatures.
#![allow(dead_code)]

use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use sha2::{Digest, Sha256};
use softkey_authenticator::cbor::{self, Value};
use softkey_authenticator::testing::{PinClient, TestEnv, Token};
use softkey_authenticator::{Authenticator, Config, Store};

pub const MAKE_CREDENTIAL: u8 = 0x01;
pub const GET_ASSERTION: u8 = 0x02;
pub const GET_INFO: u8 = 0x04;
pub const CLIENT_PIN: u8 = 0x06;
pub const GET_NEXT_ASSERTION: u8 = 0x08;
pub const CREDENTIAL_MANAGEMENT: u8 = 0x0A;
pub const LARGE_BLOBS: u8 = 0x0C;
pub const CONFIG: u8 = 0x0D;

pub const CDH: [u8; 32] = [0xC1; 32];

pub struct Harness {
    pub env: TestEnv,
    pub auth: Authenticator,
}

impl Harness {
    /// Every record in the store, as plain bytes: to compare the store
    /// before and after an operation that must change nothing.
    pub fn store_snapshot(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.env
            .store
            .scan_prefix(b"")
            .unwrap()
            .into_iter()
            .map(|stored| (stored.key.to_vec(), stored.value.to_vec()))
            .collect()
    }

    pub fn new() -> Self {
        Self::with_seed(42)
    }

    /// Another device: a different seed gives different device secrets.
    pub fn with_seed(seed: u64) -> Self {
        let mut env = TestEnv::new(seed);
        let mut auth = Authenticator::new(Config::default());
        auth.power_up(&mut env);
        Harness { env, auth }
    }

    /// A key with this configuration.
    pub fn with_config(config: Config) -> Self {
        let mut env = TestEnv::new(42);
        let mut auth = Authenticator::new(config);
        auth.power_up(&mut env);
        Harness { env, auth }
    }

    /// A key with every algorithm enabled (`serve --algorithms all`).
    pub fn all_algorithms() -> Self {
        let mut env = TestEnv::new(42);
        let mut auth = Authenticator::new(Config {
            algorithms: softkey_authenticator::SUPPORTED_ALGORITHMS.to_vec(),
            ..Config::default()
        });
        auth.power_up(&mut env);
        Harness { env, auth }
    }

    /// A process restart: RAM state gone, the store kept.
    pub fn restart(&mut self) {
        self.auth = Authenticator::new(Config::default());
        self.auth.power_up(&mut self.env);
    }

    pub fn raw(&mut self, request: &[u8]) -> Vec<u8> {
        self.auth.process_cbor(&mut self.env, request)
    }

    /// Sends `command || encode(params)`; `Ok(response)` for status 0 (the
    /// response proven canonical), `Err(status)` otherwise.
    /// Success without a body (setPIN, selection, reset...) is `Value::Null`.
    pub fn call(&mut self, command: u8, params: &Value) -> Result<Value, u8> {
        send(self, command, params).map(|v| v.unwrap_or(Value::Null))
    }

    pub fn call0(&mut self, command: u8) -> Result<Value, u8> {
        response(&self.raw(&[command])).map(|v| v.unwrap_or(Value::Null))
    }

    pub fn make_credential(&mut self, mc: &Mc) -> Result<Attestation, u8> {
        self.call(MAKE_CREDENTIAL, &mc.to_value())
            .map(|v| Attestation::parse(&v))
    }

    pub fn get_assertion(&mut self, ga: &Ga) -> Result<Assertion, u8> {
        self.call(GET_ASSERTION, &ga.to_value())
            .map(|v| Assertion::parse(&v))
    }

    pub fn get_next_assertion(&mut self) -> Result<Assertion, u8> {
        self.call0(GET_NEXT_ASSERTION).map(|v| Assertion::parse(&v))
    }

    pub fn presence_count(&self) -> usize {
        self.env.presence.log().len()
    }

    /// The decrypted hmac-secret output (CTAP 2.1 §12.5) of one
    /// getAssertion `ga` without UV for `salts`, through PIN/UV protocol 2.
    pub fn hmac_secret(&mut self, ga: &Ga, salts: &[u8]) -> Vec<u8> {
        let client = PinClient::new(2);
        let ka = client.key_agreement(&mut self.auth, &mut self.env).unwrap();
        let salt_enc = ka.encrypt(&mut self.env, salts);
        let input = Value::int_map(vec![
            (1, ka.cose_key.clone()),
            (3, Value::bytes(&ka.authenticate(&salt_enc))),
            (2, Value::Bytes(salt_enc)),
            (4, Value::Unsigned(2)),
        ]);
        let mut ga = ga.clone();
        ga.extensions = Some(Value::text_map(vec![("hmac-secret", input)]));
        let a = self.get_assertion(&ga).unwrap();
        match a
            .extensions
            .and_then(|e| e.get(&Value::text("hmac-secret")).cloned())
        {
            Some(Value::Bytes(enc)) => ka.decrypt(&enc),
            other => panic!("no hmac-secret output: {other:?}"),
        }
    }
}

/// Sends `command || encode(params)`: `Ok(None)` for a bare CTAP2_OK,
/// `Ok(Some(body))` (proven canonical) for a response with a body,
/// `Err(status)` otherwise.
pub fn send(h: &mut Harness, command: u8, params: &Value) -> Result<Option<Value>, u8> {
    let mut request = vec![command];
    request.extend_from_slice(&cbor::encode(params));
    response(&h.raw(&request))
}

/// Splits a CTAP2 response into its status and (canonical) body.
fn response(out: &[u8]) -> Result<Option<Value>, u8> {
    match out.split_first() {
        Some((0, [])) => Ok(None),
        Some((0, body)) => Ok(Some(canonical(body))),
        Some((&status, [])) => Err(status),
        other => panic!("malformed response {other:?}"),
    }
}

/// A fresh PIN, and a token with `permissions` for it (protocol `protocol`).
pub fn pin_and_token(h: &mut Harness, protocol: u64, pin: &str, permissions: u64) -> Token {
    let client = PinClient::new(protocol);
    client
        .set_pin(&mut h.auth, &mut h.env, pin)
        .expect("setPIN");
    client
        .token(&mut h.auth, &mut h.env, pin, permissions, None)
        .expect("token")
}

/// Decodes with the strict decoder and checks re-encoding is identical:
/// proof that the authenticator's output is canonical CTAP2 CBOR.
pub fn canonical(body: &[u8]) -> Value {
    let v = cbor::decode(body).expect("response must be strictly canonical CBOR");
    assert_eq!(cbor::encode(&v), body);
    v
}

pub fn rp_id_hash(rp_id: &str) -> [u8; 32] {
    Sha256::digest(rp_id.as_bytes()).into()
}

pub fn descriptor(id: &[u8]) -> Value {
    Value::text_map(vec![
        ("id", Value::bytes(id)),
        ("type", Value::text("public-key")),
        (
            "transports",
            Value::Array(vec![Value::text("usb"), Value::text("nfc")]),
        ),
    ])
}

pub fn es256() -> Value {
    Value::text_map(vec![
        ("alg", Value::int(-7)),
        ("type", Value::text("public-key")),
    ])
}

/// A makeCredential request builder (CTAP 2.1 §6.1.1).
#[derive(Clone)]
pub struct Mc {
    pub rp_id: String,
    pub user_id: Vec<u8>,
    pub user_name: Option<String>,
    pub display_name: Option<String>,
    pub algs: Vec<Value>,
    pub exclude: Option<Vec<Vec<u8>>>,
    pub options: Vec<(&'static str, Value)>,
    pub extensions: Option<Value>,
    pub pin_uv_auth_param: Option<Vec<u8>>,
    pub pin_uv_auth_protocol: Option<u64>,
    pub extra: Vec<(u64, Value)>,
}

impl Mc {
    pub fn new(rp_id: &str, user_id: &[u8], user_name: &str) -> Self {
        Mc {
            rp_id: rp_id.into(),
            user_id: user_id.to_vec(),
            user_name: Some(user_name.into()),
            display_name: Some(format!("{user_name} display")),
            algs: vec![es256()],
            exclude: None,
            options: vec![],
            extensions: None,
            pin_uv_auth_param: None,
            pin_uv_auth_protocol: None,
            extra: vec![],
        }
    }

    pub fn rk(mut self) -> Self {
        self.options.push(("rk", Value::Bool(true)));
        self
    }

    pub fn option(mut self, key: &'static str, value: bool) -> Self {
        self.options.push((key, Value::Bool(value)));
        self
    }

    pub fn to_value(&self) -> Value {
        let mut user = vec![("id", Value::bytes(&self.user_id))];
        if let Some(n) = &self.user_name {
            user.push(("name", Value::text(n)));
        }
        if let Some(d) = &self.display_name {
            user.push(("displayName", Value::text(d)));
        }
        let mut pairs = vec![
            (1, Value::bytes(&CDH)),
            (
                2,
                Value::text_map(vec![
                    ("id", Value::text(&self.rp_id)),
                    ("name", Value::text("RP")),
                ]),
            ),
            (3, Value::text_map(user)),
            (4, Value::Array(self.algs.clone())),
        ];
        if let Some(ex) = &self.exclude {
            pairs.push((
                5,
                Value::Array(ex.iter().map(|id| descriptor(id)).collect()),
            ));
        }
        if let Some(ext) = &self.extensions {
            pairs.push((6, ext.clone()));
        }
        if !self.options.is_empty() {
            pairs.push((7, Value::text_map(self.options.clone())));
        }
        if let Some(p) = &self.pin_uv_auth_param {
            pairs.push((8, Value::bytes(p)));
        }
        if let Some(p) = self.pin_uv_auth_protocol {
            pairs.push((9, Value::Unsigned(p)));
        }
        pairs.extend(self.extra.iter().cloned());
        Value::int_map(pairs)
    }
}

/// A getAssertion request builder (CTAP 2.1 §6.2.1).
#[derive(Clone)]
pub struct Ga {
    pub rp_id: String,
    pub client_data_hash: [u8; 32],
    pub allow: Option<Vec<Vec<u8>>>,
    pub options: Vec<(&'static str, Value)>,
    pub extensions: Option<Value>,
    pub pin_uv_auth_param: Option<Vec<u8>>,
    pub pin_uv_auth_protocol: Option<u64>,
}

impl Ga {
    pub fn new(rp_id: &str) -> Self {
        Ga {
            rp_id: rp_id.into(),
            client_data_hash: CDH,
            allow: None,
            options: vec![],
            extensions: None,
            pin_uv_auth_param: None,
            pin_uv_auth_protocol: None,
        }
    }

    pub fn allow(mut self, ids: &[&[u8]]) -> Self {
        self.allow = Some(ids.iter().map(|i| i.to_vec()).collect());
        self
    }

    pub fn option(mut self, key: &'static str, value: bool) -> Self {
        self.options.push((key, Value::Bool(value)));
        self
    }

    pub fn to_value(&self) -> Value {
        let mut pairs = vec![
            (1, Value::text(&self.rp_id)),
            (2, Value::bytes(&self.client_data_hash)),
        ];
        if let Some(a) = &self.allow {
            pairs.push((3, Value::Array(a.iter().map(|id| descriptor(id)).collect())));
        }
        if let Some(ext) = &self.extensions {
            pairs.push((4, ext.clone()));
        }
        if !self.options.is_empty() {
            pairs.push((5, Value::text_map(self.options.clone())));
        }
        if let Some(p) = &self.pin_uv_auth_param {
            pairs.push((6, Value::bytes(p)));
        }
        if let Some(p) = self.pin_uv_auth_protocol {
            pairs.push((7, Value::Unsigned(p)));
        }
        Value::int_map(pairs)
    }
}

fn get<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(&Value::text(key))
        .unwrap_or_else(|| panic!("missing {key}"))
}

fn int_key(v: &Value, key: u64) -> Option<&Value> {
    v.get(&Value::Unsigned(key))
}

fn bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::Bytes(b) => b.clone(),
        other => panic!("expected bytes, got {other:?}"),
    }
}

/// A parsed makeCredential response whose packed self-attestation
/// signature has been verified against the credential's COSE key.
pub struct Attestation {
    /// The authData extension outputs (ED set).
    pub extensions: Option<Value>,
    /// makeCredential response member 0x05.
    pub large_blob_key: Option<Vec<u8>>,
    pub auth_data: Vec<u8>,
    pub flags: u8,
    pub sign_count: u32,
    pub aaguid: [u8; 16],
    pub credential_id: Vec<u8>,
    pub public_key: VerifyingKey,
}

impl Attestation {
    pub fn parse(v: &Value) -> Self {
        assert_eq!(int_key(v, 1), Some(&Value::text("packed")));
        let auth_data = bytes(int_key(v, 2).unwrap());
        let att_stmt = int_key(v, 3).unwrap();
        assert_eq!(get(att_stmt, "alg"), &Value::int(-7));
        let sig = bytes(get(att_stmt, "sig"));
        let flags = auth_data[32];
        let sign_count = u32::from_be_bytes(auth_data[33..37].try_into().unwrap());
        let aaguid: [u8; 16] = auth_data[37..53].try_into().unwrap();
        let len = usize::from(u16::from_be_bytes([auth_data[53], auth_data[54]]));
        let credential_id = auth_data[55..55 + len].to_vec();
        // An ES256 COSE key is 77 bytes; strict decode proves it canonical.
        // After it: the extension map exactly when ED (0x80) is set.
        let cose_bytes = &auth_data[55 + len..(55 + len + 77).min(auth_data.len())];
        let cose = canonical(cose_bytes);
        let rest = &auth_data[55 + len + 77..];
        let extensions = if flags & 0x80 != 0 {
            Some(canonical(rest))
        } else {
            assert!(rest.is_empty(), "trailing bytes without ED");
            None
        };
        assert_eq!(
            cose_bytes[..7],
            [0xA5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01],
            "COSE key header {{1: 2, 3: -7, -1: 1, ...}}"
        );
        let x = bytes(cose.get(&Value::int(-2)).unwrap());
        let y = bytes(cose.get(&Value::int(-3)).unwrap());
        let sec1 = [&[0x04][..], &x, &y].concat();
        let public_key = VerifyingKey::from_sec1_bytes(&sec1).unwrap();
        // Packed self attestation: sig over authData || clientDataHash.
        let der = DerSignature::from_bytes(&sig).unwrap();
        public_key
            .verify(&[auth_data.as_slice(), &CDH].concat(), &der)
            .unwrap();
        Attestation {
            extensions,
            large_blob_key: int_key(v, 5).map(bytes),
            auth_data,
            flags,
            sign_count,
            aaguid,
            credential_id,
            public_key,
        }
    }
}

/// A parsed getAssertion / getNextAssertion response.
pub struct Assertion {
    /// The authData extension outputs (ED set).
    pub extensions: Option<Value>,
    /// getAssertion response member 0x07.
    pub large_blob_key: Option<Vec<u8>>,
    pub credential_id: Vec<u8>,
    pub auth_data: Vec<u8>,
    pub signature: Vec<u8>,
    pub user: Option<Value>,
    pub number_of_credentials: Option<u64>,
    pub flags: u8,
    pub sign_count: u32,
}

impl Assertion {
    pub fn parse(v: &Value) -> Self {
        let cred = int_key(v, 1).expect("credential (key 1) always present");
        assert_eq!(get(cred, "type"), &Value::text("public-key"));
        let auth_data = bytes(int_key(v, 2).unwrap());
        let extensions = if auth_data[32] & 0x80 != 0 {
            Some(canonical(&auth_data[37..]))
        } else {
            assert_eq!(auth_data.len(), 37, "no attested data, no extensions");
            None
        };
        Assertion {
            extensions,
            large_blob_key: int_key(v, 7).map(bytes),
            credential_id: bytes(get(cred, "id")),
            signature: bytes(int_key(v, 3).unwrap()),
            user: int_key(v, 4).cloned(),
            number_of_credentials: int_key(v, 5).map(|n| match n {
                Value::Unsigned(n) => *n,
                other => panic!("numberOfCredentials {other:?}"),
            }),
            flags: auth_data[32],
            sign_count: u32::from_be_bytes(auth_data[33..37].try_into().unwrap()),
            auth_data,
        }
    }

    /// Verifies the ES256 signature over authData || clientDataHash.
    pub fn verify(&self, key: &VerifyingKey, client_data_hash: &[u8; 32]) {
        let der = DerSignature::from_bytes(&self.signature).unwrap();
        key.verify(
            &[self.auth_data.as_slice(), client_data_hash].concat(),
            &der,
        )
        .expect("assertion signature verifies");
    }

    pub fn user_field(&self, key: &str) -> Option<Value> {
        self.user
            .as_ref()
            .and_then(|u| u.get(&Value::text(key)).cloned())
    }
}
