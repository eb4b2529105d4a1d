//! The persistent pinUvAuthToken for read-only credential management
//! (CTAP 2.2: the `pcmr` permission, getInfo option `perCredMgmtRO`), and
//! the two getInfo values only its holder can read: `encIdentifier` (0x19)
//! and `encCredStoreState` (0x1E).
//!
//! A platform that asked for `pcmr` once may list credentials later, after
//! power cycles, without asking for the PIN again: the token is kept in the
//! store (`device/persistent-token`, wiped by authenticatorReset) with a
//! random 128-bit device identifier. The token verifies only
//! getCredsMetadata, enumerateRPsBegin and enumerateCredentialsBegin
//! (§6.8); deleteCredential and updateUserInformation refuse it with
//! CTAP2_ERR_PIN_AUTH_INVALID, as for a token without the permission.
//! Issuing it leaves the ordinary token alone. changePIN revokes it
//! ("persistent permissions are cleared on PIN change"); the identifier
//! stays until reset.
//!
//! getInfo's two values are `iv ‖ AES-128-CBC(k, iv, value)` with
//! k = HKDF-SHA-256(salt = 32 zero bytes, IKM = the token, info =
//! "encIdentifier" or "encCredStoreState", L = 16) and a fresh IV each time,
//! as python-fido2's `Info.get_identifier` and libfido2 decrypt them.
//!
//! Record: canonical CBOR `{1: identifier (16), 2: token (32)?}`.

use aes::Aes128;
use cbc::cipher::{BlockModeEncrypt, KeyIvInit};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::protocol::PinProtocol;
use crate::cbor::fields::{self, Fields, optional, required};
use crate::cbor::{self, Value};
use crate::env::{Env, Store, StoreError};
use crate::error::Error;
use crate::store_keys::PERSISTENT_TOKEN;

/// CTAP 2.2 permission bit `pcmr`.
pub(crate) const PCMR: u8 = 0x40;
const TOKEN_LEN: usize = 32;
const IDENTIFIER_LEN: usize = 16;

/// The stored state.
struct Persistent {
    identifier: [u8; IDENTIFIER_LEN],
    token: Option<Zeroizing<[u8; TOKEN_LEN]>>,
}

impl Persistent {
    fn load<S: Store>(store: &S) -> Result<Option<Self>, Error> {
        let Some(raw) = store.get(PERSISTENT_TOKEN)? else {
            return Ok(None);
        };
        let corrupt = || StoreError::corrupt("persistent token record");
        let value = cbor::decode(&raw).map_err(|_| corrupt())?;
        let f = Fields::of(&value).map_err(|_| corrupt())?;
        let identifier = required(f.int(1))
            .and_then(fields::bytes)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(corrupt)?;
        let token = match optional(f.int(2), fields::bytes).map_err(|_| corrupt())? {
            None => None,
            Some(b) => Some(Zeroizing::new(b.try_into().map_err(|_| corrupt())?)),
        };
        let mut value = value;
        crate::record::wipe(&mut value);
        Ok(Some(Persistent { identifier, token }))
    }

    fn save<S: Store>(&self, store: &mut S) -> Result<(), Error> {
        let mut pairs = vec![(1, Value::bytes(&self.identifier))];
        if let Some(token) = &self.token {
            pairs.push((2, Value::bytes(token.as_slice())));
        }
        let mut value = Value::int_map(pairs);
        let encoded = Zeroizing::new(cbor::encode(&value));
        crate::record::wipe(&mut value);
        store.put(PERSISTENT_TOKEN, &encoded)?;
        Ok(())
    }
}

/// The persistent token, made (with the identifier, if new) on first grant;
/// later grants return the same token.
pub(crate) fn grant<E: Env>(env: &mut E) -> Result<Zeroizing<[u8; TOKEN_LEN]>, Error> {
    let mut state = match Persistent::load(env.store())? {
        Some(state) => state,
        None => {
            let mut identifier = [0; IDENTIFIER_LEN];
            env.fill_random(&mut identifier);
            Persistent {
                identifier,
                token: None,
            }
        }
    };
    if let Some(token) = &state.token {
        return Ok(token.clone());
    }
    let mut token = Zeroizing::new([0; TOKEN_LEN]);
    env.fill_random(token.as_mut_slice());
    state.token = Some(token.clone());
    state.save(env.store())?;
    Ok(token)
}

/// changePIN: the token stops verifying; the identifier stays.
pub(crate) fn revoke<S: Store>(store: &mut S) -> Result<(), Error> {
    if let Some(mut state) = Persistent::load(store)?
        && state.token.is_some()
    {
        state.token = None;
        state.save(store)?;
    }
    Ok(())
}

/// Whether `param` is the persistent token's MAC of `message` under
/// `protocol` (constant time).
pub(crate) fn verifies<S: Store>(
    store: &S,
    protocol: PinProtocol,
    message: &[u8],
    param: &[u8],
) -> Result<bool, Error> {
    let Some(token) = Persistent::load(store)?.and_then(|s| s.token) else {
        return Ok(false);
    };
    Ok(protocol.verify(token.as_slice(), message, param))
}

/// getInfo's two encrypted values (`iv ‖ ciphertext`, 32 bytes each).
pub(crate) struct EncryptedInfo {
    /// encIdentifier (0x19).
    pub(crate) identifier: Vec<u8>,
    /// encCredStoreState (0x1E).
    pub(crate) cred_store_state: Vec<u8>,
}

/// getInfo 0x19 and 0x1E, when a persistent token exists: the identifier
/// and the first 16 bytes of the credential store state, each encrypted
/// under a key derived from the token.
pub(crate) fn info_values<E: Env>(env: &mut E) -> Result<Option<EncryptedInfo>, Error> {
    let Some(state) = Persistent::load(env.store())? else {
        return Ok(None);
    };
    let Some(token) = state.token else {
        return Ok(None);
    };
    let store_state = crate::cred_store_state::current(env.store())?;
    let mut state_value = [0u8; 16];
    state_value.copy_from_slice(store_state.get(..16).unwrap_or(&[0; 16]));
    Ok(Some(EncryptedInfo {
        identifier: encrypt(env, &token, b"encIdentifier", state.identifier),
        cred_store_state: encrypt(env, &token, b"encCredStoreState", state_value),
    }))
}

/// `iv ‖ AES-128-CBC(HKDF(token, info), iv, block)`.
fn encrypt<E: Env>(env: &mut E, token: &[u8; TOKEN_LEN], info: &[u8], block: [u8; 16]) -> Vec<u8> {
    let mut key = Zeroizing::new([0u8; 16]);
    // 16 bytes is far below HKDF's limit of 255 hash lengths.
    let _ = Hkdf::<Sha256>::new(Some(&[0u8; 32]), token).expand(info, key.as_mut_slice());
    let mut iv = [0u8; 16];
    env.fill_random(&mut iv);
    let mut out = block;
    let mut cipher = cbc::Encryptor::<Aes128>::new((&*key).into(), (&iv).into());
    cipher.encrypt_block((&mut out).into());
    [iv, out].concat()
}
