//! A platform-side clientPIN client for tests (CTAP 2.1 §6.5.5 from the
//! platform's side): key agreement, setPIN/changePIN with padded and
//! encrypted PINs, getPinToken / getPinUvAuthTokenUsingPinWithPermissions,
//! and pinUvAuthParam computation with the decrypted token, including the
//! request builders of the commands a token authorises (credential
//! management §6.8, largeBlobs §6.10, authenticatorConfig §6.11). It talks
//! to an [`Authenticator`] through `process_cbor` only, like a real platform.

use p256::SecretKey;
use sha2::{Digest, Sha256};

use crate::Authenticator;
use crate::cbor::{self, Value};
use crate::env::Env;
use crate::pin::{PinProtocol, SharedSecret, parse_platform_cose_key, platform_cose_key};

const CLIENT_PIN: u8 = 0x06;

/// §6.5.5.7 permission bits.
pub const PERM_MC: u64 = 0x01;
pub const PERM_GA: u64 = 0x02;
pub const PERM_CM: u64 = 0x04;
pub const PERM_LBW: u64 = 0x10;
pub const PERM_ACFG: u64 = 0x20;

/// The clientPIN client of one platform, for one PIN/UV auth protocol.
#[derive(Debug, Clone, Copy)]
pub struct PinClient {
    /// The pinUvAuthProtocol number sent (1 or 2).
    pub protocol: u64,
}

/// One key agreement, as the platform holds it.
pub struct PlatformSecret {
    shared: SharedSecret,
    /// The platform's COSE public key, to send as keyAgreement (0x03).
    pub cose_key: Value,
}

impl core::fmt::Debug for PlatformSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PlatformSecret { .. }")
    }
}

impl PlatformSecret {
    /// `encrypt(sharedSecret, plaintext)` as the platform does it.
    pub fn encrypt<E: Env>(&self, env: &mut E, plaintext: &[u8]) -> Vec<u8> {
        self.shared.encrypt(env, plaintext).expect("whole blocks")
    }

    pub fn decrypt(&self, ciphertext: &[u8]) -> Vec<u8> {
        self.shared.decrypt(ciphertext).expect("decrypts").to_vec()
    }

    /// `authenticate(sharedSecret, message)`.
    pub fn authenticate(&self, message: &[u8]) -> Vec<u8> {
        self.shared.authenticate(message)
    }
}

/// A pinUvAuthToken as the platform holds it, with its protocol.
#[derive(Clone)]
pub struct Token {
    pub protocol: u64,
    pub key: Vec<u8>,
}

impl core::fmt::Debug for Token {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Token {{ protocol: {}, .. }}", self.protocol)
    }
}

impl Token {
    /// `authenticate(pinUvAuthToken, message)`: a pinUvAuthParam.
    pub fn auth(&self, message: &[u8]) -> Vec<u8> {
        PinClient::new(self.protocol).auth_param(&self.key, message)
    }
}

/// Sends one clientPIN request; `Ok(response map or Null)` or `Err(status)`.
pub fn client_pin<E: Env>(
    auth: &mut Authenticator,
    env: &mut E,
    params: Vec<(u64, Value)>,
) -> Result<Value, u8> {
    let mut request = vec![CLIENT_PIN];
    request.extend_from_slice(&cbor::encode(&Value::int_map(params)));
    let out = auth.process_cbor(env, &request);
    match out.split_first() {
        Some((0, [])) => Ok(Value::Null),
        Some((0, body)) => Ok(cbor::decode(body).expect("canonical response")),
        Some((&status, _)) => Err(status),
        None => Err(0xFF),
    }
}

/// `newPin` padded with zeros to 64 bytes (§6.5.5.5).
pub fn pad_pin(pin: &[u8]) -> Vec<u8> {
    let mut padded = pin.to_vec();
    padded.resize(64.max(pin.len()), 0);
    padded
}

/// LEFT(SHA-256(pin), 16).
pub fn pin_hash(pin: &[u8]) -> Vec<u8> {
    let digest = Sha256::digest(pin);
    digest.get(..16).unwrap_or_default().to_vec()
}

impl PinClient {
    pub fn new(protocol: u64) -> Self {
        PinClient { protocol }
    }

    fn protocol(&self) -> PinProtocol {
        PinProtocol::from_number(self.protocol).expect("protocol 1 or 2")
    }

    /// getKeyAgreement, then the platform half of the ECDH.
    pub fn key_agreement<E: Env>(
        &self,
        auth: &mut Authenticator,
        env: &mut E,
    ) -> Result<PlatformSecret, u8> {
        let response = client_pin(
            auth,
            env,
            vec![(1, Value::Unsigned(self.protocol)), (2, Value::Unsigned(2))],
        )?;
        let peer = response.get(&Value::Unsigned(1)).expect("keyAgreement");
        let peer = parse_platform_cose_key(peer).expect("valid authenticator key");
        let mut scalar = [0u8; 32];
        let secret = loop {
            env.fill_random(&mut scalar);
            if let Ok(s) = SecretKey::from_slice(&scalar) {
                break s;
            }
        };
        let z = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine());
        Ok(PlatformSecret {
            shared: SharedSecret::derive(self.protocol(), z.raw_secret_bytes()),
            cose_key: platform_cose_key(&secret.public_key()).expect("a valid point"),
        })
    }

    /// setPIN (0x03) with `pin` padded to 64 bytes.
    pub fn set_pin<E: Env>(
        &self,
        auth: &mut Authenticator,
        env: &mut E,
        pin: &str,
    ) -> Result<(), u8> {
        self.set_pin_padded(auth, env, &pad_pin(pin.as_bytes()))
    }

    /// setPIN with an arbitrary padded PIN (policy tests).
    pub fn set_pin_padded<E: Env>(
        &self,
        auth: &mut Authenticator,
        env: &mut E,
        padded: &[u8],
    ) -> Result<(), u8> {
        let ka = self.key_agreement(auth, env)?;
        let new_pin_enc = ka.encrypt(env, padded);
        let param = ka.authenticate(&new_pin_enc);
        client_pin(
            auth,
            env,
            vec![
                (1, Value::Unsigned(self.protocol)),
                (2, Value::Unsigned(3)),
                (3, ka.cose_key.clone()),
                (4, Value::Bytes(param)),
                (5, Value::Bytes(new_pin_enc)),
            ],
        )
        .map(|_| ())
    }

    /// changePIN (0x04).
    pub fn change_pin<E: Env>(
        &self,
        auth: &mut Authenticator,
        env: &mut E,
        old: &str,
        new: &str,
    ) -> Result<(), u8> {
        let ka = self.key_agreement(auth, env)?;
        let new_pin_enc = ka.encrypt(env, &pad_pin(new.as_bytes()));
        let pin_hash_enc = ka.encrypt(env, &pin_hash(old.as_bytes()));
        let param = ka.authenticate(&[new_pin_enc.as_slice(), &pin_hash_enc].concat());
        client_pin(
            auth,
            env,
            vec![
                (1, Value::Unsigned(self.protocol)),
                (2, Value::Unsigned(4)),
                (3, ka.cose_key.clone()),
                (4, Value::Bytes(param)),
                (5, Value::Bytes(new_pin_enc)),
                (6, Value::Bytes(pin_hash_enc)),
            ],
        )
        .map(|_| ())
    }

    /// getPinToken (0x05) when `permissions` is `None`, else
    /// getPinUvAuthTokenUsingPinWithPermissions (0x09). Returns the
    /// decrypted pinUvAuthToken.
    pub fn get_token<E: Env>(
        &self,
        auth: &mut Authenticator,
        env: &mut E,
        pin: &str,
        permissions: Option<u64>,
        rp_id: Option<&str>,
    ) -> Result<Vec<u8>, u8> {
        let ka = self.key_agreement(auth, env)?;
        let pin_hash_enc = ka.encrypt(env, &pin_hash(pin.as_bytes()));
        let mut params = vec![
            (1, Value::Unsigned(self.protocol)),
            (
                2,
                Value::Unsigned(if permissions.is_some() { 9 } else { 5 }),
            ),
            (3, ka.cose_key.clone()),
            (6, Value::Bytes(pin_hash_enc)),
        ];
        if let Some(p) = permissions {
            params.push((9, Value::Unsigned(p)));
        }
        if let Some(rp) = rp_id {
            params.push((10, Value::text(rp)));
        }
        let response = client_pin(auth, env, params)?;
        let Some(Value::Bytes(enc)) = response.get(&Value::Unsigned(2)) else {
            panic!("no pinUvAuthToken in {response:?}");
        };
        Ok(ka.decrypt(enc))
    }

    /// getPinUvAuthTokenUsingPinWithPermissions (0x09), as a [`Token`].
    pub fn token<E: Env>(
        &self,
        auth: &mut Authenticator,
        env: &mut E,
        pin: &str,
        permissions: u64,
        rp_id: Option<&str>,
    ) -> Result<Token, u8> {
        let key = self.get_token(auth, env, pin, Some(permissions), rp_id)?;
        Ok(Token {
            protocol: self.protocol,
            key,
        })
    }

    /// getPinUvAuthTokenUsingUvWithPermissions (0x06): a token from the
    /// key's built-in user verification.
    pub fn uv_token<E: Env>(
        &self,
        auth: &mut Authenticator,
        env: &mut E,
        permissions: u64,
        rp_id: Option<&str>,
    ) -> Result<Token, u8> {
        let ka = self.key_agreement(auth, env)?;
        let mut params = vec![
            (1, Value::Unsigned(self.protocol)),
            (2, Value::Unsigned(6)),
            (3, ka.cose_key.clone()),
            (9, Value::Unsigned(permissions)),
        ];
        if let Some(rp) = rp_id {
            params.push((10, Value::text(rp)));
        }
        let response = client_pin(auth, env, params)?;
        let Some(Value::Bytes(enc)) = response.get(&Value::Unsigned(2)) else {
            panic!("no pinUvAuthToken in {response:?}");
        };
        Ok(Token {
            protocol: self.protocol,
            key: ka.decrypt(enc),
        })
    }

    /// getUVRetries (0x07).
    pub fn uv_retries<E: Env>(&self, auth: &mut Authenticator, env: &mut E) -> Result<u64, u8> {
        let r = client_pin(
            auth,
            env,
            vec![(1, Value::Unsigned(self.protocol)), (2, Value::Unsigned(7))],
        )?;
        match r.get(&Value::Unsigned(5)) {
            Some(Value::Unsigned(n)) => Ok(*n),
            other => panic!("uvRetries {other:?}"),
        }
    }

    /// `authenticate(pinUvAuthToken, message)`: a pinUvAuthParam.
    pub fn auth_param(&self, token: &[u8], message: &[u8]) -> Vec<u8> {
        self.protocol().authenticate(token, message)
    }

    /// getPinRetries (0x01): `(pinRetries, powerCycleState)`.
    pub fn retries<E: Env>(
        &self,
        auth: &mut Authenticator,
        env: &mut E,
    ) -> Result<(u64, bool), u8> {
        let r = client_pin(
            auth,
            env,
            vec![(1, Value::Unsigned(self.protocol)), (2, Value::Unsigned(1))],
        )?;
        let retries = match r.get(&Value::Unsigned(3)) {
            Some(Value::Unsigned(n)) => *n,
            other => panic!("pinRetries {other:?}"),
        };
        let power_cycle = matches!(r.get(&Value::Unsigned(4)), Some(Value::Bool(true)));
        Ok((retries, power_cycle))
    }
}

/// A credentialManagement request (§6.8): the pinUvAuthParam is computed
/// over `subCommand || encode(params)`, the bytes the request carries.
pub fn cm_request(token: Option<&Token>, sub_command: u8, params: Option<&Value>) -> Value {
    authorised_request(token, vec![sub_command], sub_command, params)
}

/// An authenticatorConfig request (§6.11): pinUvAuthParam over
/// `32×0xff || 0x0d || subCommand || encode(params)`.
pub fn config_request(token: Option<&Token>, sub_command: u8, params: Option<&Value>) -> Value {
    let mut prefix = vec![0xFF; 32];
    prefix.extend_from_slice(&[0x0D, sub_command]);
    authorised_request(token, prefix, sub_command, params)
}

/// `{1: subCommand, 2: params, 3: protocol, 4: param}`, the shape §6.8 and
/// §6.11 share; the param authenticates `prefix || encode(params)`.
fn authorised_request(
    token: Option<&Token>,
    mut message: Vec<u8>,
    sub_command: u8,
    params: Option<&Value>,
) -> Value {
    let mut pairs = vec![(1, Value::Unsigned(u64::from(sub_command)))];
    if let Some(p) = params {
        message.extend_from_slice(&cbor::encode(p));
        pairs.push((2, p.clone()));
    }
    if let Some(t) = token {
        pairs.push((3, Value::Unsigned(t.protocol)));
        pairs.push((4, Value::Bytes(t.auth(&message))));
    }
    Value::int_map(pairs)
}

/// A largeBlobs set fragment (§6.10): pinUvAuthParam over
/// `32×0xff || h'0c00' || uint32LE(offset) || SHA-256(set)`.
pub fn blob_set_request(
    token: Option<&Token>,
    offset: u64,
    set: &[u8],
    length: Option<u64>,
) -> Value {
    let mut pairs = vec![(2, Value::bytes(set)), (3, Value::Unsigned(offset))];
    if let Some(l) = length {
        pairs.push((4, Value::Unsigned(l)));
    }
    if let Some(t) = token {
        let mut message = vec![0xFF; 32];
        message.extend_from_slice(&[0x0C, 0x00]);
        let offset = u32::try_from(offset).expect("offset fits a uint32");
        message.extend_from_slice(&offset.to_le_bytes());
        message.extend_from_slice(&Sha256::digest(set));
        pairs.push((5, Value::Bytes(t.auth(&message))));
        pairs.push((6, Value::Unsigned(t.protocol)));
    }
    Value::int_map(pairs)
}

/// A serialized large-blob array with its integrity trailer (§6.10.1):
/// `cbor_array || LEFT(SHA-256(cbor_array), 16)`.
pub fn blob_array(cbor_array: &[u8]) -> Vec<u8> {
    let mut out = cbor_array.to_vec();
    out.extend_from_slice(&pin_hash(cbor_array));
    out
}
