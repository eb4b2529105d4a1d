//! authenticatorClientPIN (CTAP 2.1 §6.5.5): getPinRetries,
//! getKeyAgreement, setPIN, changePIN, getPinToken and
//! getPinUvAuthTokenUsingPinWithPermissions; and on a key with built-in UV
//! (a test-lab key's `hasUserVerification`, pin/built_in_uv.rs)
//! getPinUvAuthTokenUsingUvWithPermissions and getUVRetries, which a key
//! without answers CTAP2_ERR_INVALID_SUBCOMMAND.
//!
//! The PIN check follows SECURITY.md "The CTAP PIN": pinRetries is decremented and
//! *persisted* before pinHashEnc is decrypted and compared in constant
//! time; if that write fails the request fails without a compare.

use zeroize::Zeroizing;

use crate::Authenticator;
use crate::cbor::fields::{self, Fields, optional, required};
use crate::cbor::{self, Value};
use crate::env::{Env, Operation, PresenceRequest, Requester};
use crate::error::Error;
use crate::pin::primitives::ct_eq;
use crate::pin::protocol::{PinProtocol, SharedSecret};
use crate::pin::retries::{self, MAX_PIN_RETRIES};
use crate::pin::{DeviceSettings, MAX_PIN_BYTES, Permission, built_in_uv, persistent};
use crate::presence;
use crate::profile::CtapVersion;
use crate::status::CtapError;

/// §6.5.5.5: newPinEnc carries the PIN padded with zeros to 64 bytes.
const PADDED_PIN_LEN: usize = 64;
/// Permissions softkey can grant: mc, ga, cm, lbw, acfg (no be: no bio).
const SUPPORTED_PERMISSIONS: u64 = Permission::MakeCredential as u64
    | Permission::GetAssertion as u64
    | Permission::CredentialManagement as u64
    | Permission::LargeBlobWrite as u64
    | Permission::AuthenticatorConfig as u64;
/// Every permission bit the spec defines: the five above, be (0x08) and
/// CTAP 2.2's pcmr (0x40). Other bits are undefined and ignored
/// (§6.5.5.7.2 step 4: only a defined permission the key cannot grant is
/// refused).
const DEFINED_PERMISSIONS: u64 = SUPPORTED_PERMISSIONS | 0x08 | 0x40;
/// getPinToken's implicit permissions (§6.5.5.7.1: "mc and ga").
const DEFAULT_PERMISSIONS: u8 = Permission::MakeCredential as u8 | Permission::GetAssertion as u8;

mod sub {
    pub(super) const GET_PIN_RETRIES: u64 = 0x01;
    pub(super) const GET_KEY_AGREEMENT: u64 = 0x02;
    pub(super) const SET_PIN: u64 = 0x03;
    pub(super) const CHANGE_PIN: u64 = 0x04;
    pub(super) const GET_PIN_TOKEN: u64 = 0x05;
    pub(super) const GET_TOKEN_USING_UV: u64 = 0x06;
    pub(super) const GET_UV_RETRIES: u64 = 0x07;
    pub(super) const GET_TOKEN_USING_PIN: u64 = 0x09;
}

/// Response keys (§6.5.5.2 "authenticatorClientPIN response structure").
mod key {
    pub(super) const KEY_AGREEMENT: u64 = 0x01;
    pub(super) const PIN_UV_AUTH_TOKEN: u64 = 0x02;
    pub(super) const PIN_RETRIES: u64 = 0x03;
    pub(super) const POWER_CYCLE_STATE: u64 = 0x04;
    pub(super) const UV_RETRIES: u64 = 0x05;
}

/// A parsed clientPIN request (§6.5.5.1). Every present member is type
/// checked up front; which are required depends on the subcommand.
#[derive(Debug)]
struct Request<'a> {
    protocol: Option<u64>,
    sub_command: u64,
    key_agreement: Option<&'a Value>,
    pin_uv_auth_param: Option<&'a [u8]>,
    new_pin_enc: Option<&'a [u8]>,
    pin_hash_enc: Option<&'a [u8]>,
    permissions: Option<u64>,
    rp_id: Option<&'a str>,
}

impl<'a> Request<'a> {
    fn parse(value: &'a Value) -> Result<Self, CtapError> {
        let f = Fields::of(value)?;
        let key_agreement = f.int(0x03);
        if let Some(k) = key_agreement {
            Fields::of(k)?;
        }
        Ok(Request {
            protocol: optional(f.int(0x01), fields::unsigned)?,
            sub_command: fields::unsigned(required(f.int(0x02))?)?,
            key_agreement,
            pin_uv_auth_param: optional(f.int(0x04), fields::bytes)?,
            new_pin_enc: optional(f.int(0x05), fields::bytes)?,
            pin_hash_enc: optional(f.int(0x06), fields::bytes)?,
            permissions: optional(f.int(0x09), fields::unsigned)?,
            rp_id: optional(f.int(0x0A), fields::text)?,
        })
    }

    /// The protocol, required by every subcommand but getPinRetries.
    fn protocol(&self) -> Result<PinProtocol, CtapError> {
        PinProtocol::from_number(required_value(self.protocol)?)
    }
}

/// What a PIN-checked token request asks for.
#[derive(Debug)]
struct Grant {
    permissions: u8,
    /// The permissions RP ID, if the platform named one.
    rp_id: Option<String>,
    /// pcmr alone (CTAP 2.2): the persistent token (pin/persistent.rs),
    /// made on first grant and the same afterwards; the ordinary token is
    /// left as it was, as a platform may hold both.
    persistent: bool,
    /// The answer to the right PIN while forcePINChange is set: getPinToken
    /// says CTAP2_ERR_PIN_INVALID (§6.5.5.7.1, the step after the retries
    /// are restored; python-fido2's device suite and OpenSK agree),
    /// getPinUvAuthTokenUsingPinWithPermissions
    /// CTAP2_ERR_PIN_POLICY_VIOLATION (§6.5.5.7.2 step 10, which tells the
    /// platform to ask for a new PIN).
    if_pin_change_forced: CtapError,
}

fn required_value<T>(v: Option<T>) -> Result<T, CtapError> {
    v.ok_or(CtapError::MissingParameter)
}

impl Authenticator {
    pub(crate) fn client_pin<E: Env>(
        &mut self,
        env: &mut E,
        params: &[u8],
    ) -> Result<Option<Value>, Error> {
        let value = cbor::decode(params)?;
        let req = Request::parse(&value)?;
        // A CTAP 2.0 key (a test-lab profile): PIN protocol 1 and
        // getPinToken only, as 2.0 defined them.
        if self.config.ctap_version == CtapVersion::Ctap20 {
            if req.protocol == Some(2) {
                return Err(CtapError::InvalidParameter.into());
            }
            if matches!(req.sub_command, 0x06..=0x09) {
                return Err(CtapError::InvalidSubcommand.into());
            }
        }
        match req.sub_command {
            sub::GET_PIN_RETRIES => self.get_pin_retries(env).map(Some),
            sub::GET_KEY_AGREEMENT => {
                let protocol = req.protocol()?;
                let key = self.pin.public_key(env, protocol)?;
                Ok(Some(Value::int_map(vec![(key::KEY_AGREEMENT, key)])))
            }
            sub::SET_PIN => self.set_pin(env, &req).map(|()| None),
            sub::CHANGE_PIN => self.change_pin(env, &req).map(|()| None),
            sub::GET_PIN_TOKEN => self.get_pin_token(env, &req).map(Some),
            sub::GET_TOKEN_USING_PIN => self.get_token_using_pin(env, &req).map(Some),
            // Without a built-in user verification method there are no
            // such subcommands.
            sub::GET_TOKEN_USING_UV | sub::GET_UV_RETRIES if !self.config.built_in_uv => {
                Err(CtapError::InvalidSubcommand.into())
            }
            sub::GET_TOKEN_USING_UV => self.get_token_using_uv(env, &req).map(Some),
            sub::GET_UV_RETRIES => Ok(Some(Value::int_map(vec![(
                key::UV_RETRIES,
                Value::Unsigned(u64::from(built_in_uv::retries(env.store())?)),
            )]))),
            _ => Err(CtapError::InvalidSubcommand.into()),
        }
    }

    /// §6.5.5.2: `{3: pinRetries, 4: powerCycleState}`.
    ///
    /// With no PIN set there are no retries to count: CTAP2_ERR_PIN_NOT_SET.
    /// The spec's steps are silent on this case; python-fido2's device
    /// suite (which Yubico runs against its keys) expects PIN_NOT_SET after
    /// a factory reset, and platforms only ask once getInfo says
    /// `clientPin: true`.
    fn get_pin_retries<E: Env>(&mut self, env: &mut E) -> Result<Value, Error> {
        if !self.pin_is_set(env)? {
            return Err(CtapError::PinNotSet.into());
        }
        let left = retries::retries(env.store())?;
        Ok(Value::int_map(vec![
            (key::PIN_RETRIES, Value::Unsigned(u64::from(left))),
            (
                key::POWER_CYCLE_STATE,
                Value::Bool(self.pin.power_cycle_needed()),
            ),
        ]))
    }

    /// §6.5.5.5 setPIN.
    fn set_pin<E: Env>(&mut self, env: &mut E, req: &Request<'_>) -> Result<(), Error> {
        // Step 1: mandatory parameters; step 2: the protocol.
        let peer = required_value(req.key_agreement)?;
        let new_pin_enc = required_value(req.new_pin_enc)?;
        let param = required_value(req.pin_uv_auth_param)?;
        let protocol = req.protocol()?;
        // Step 3: a PIN already set is CTAP2_ERR_PIN_AUTH_INVALID (CTAP 2.0
        // keys answered NOT_ALLOWED; 2.1 changed it).
        if self.pin_is_set(env)? {
            return Err(CtapError::PinAuthInvalid.into());
        }
        // Steps 4–5: shared secret, then the MAC over newPinEnc.
        let shared = self.pin.decapsulate(env, protocol, peer)?;
        if !shared.verify(new_pin_enc, param) {
            return Err(CtapError::PinAuthInvalid.into());
        }
        // Steps 6–8: decrypt and check the new PIN, store its hash with
        // pinRetries at the maximum.
        let config = DeviceSettings::load(env.store())?;
        let (pin, code_points) = decrypt_new_pin(&shared, new_pin_enc, config.min_pin_length)?;
        // Not in §6.5.5.5: the first PIN decides who may use the key (and
        // an unwanted one goes only with a reset, which erases every
        // credential), so the person at the key approves it, as
        // authenticatorReset asks them to (§6.6): no local process sets one
        // silently. Asked once the PIN is known to be acceptable; denied →
        // OPERATION_DENIED, like every prompt.
        presence::require(env, Operation::SetPin, Requester::Device, None, None)?;
        retries::save_pin(env.store(), &pin, code_points)
    }

    /// §6.5.5.6 changePIN.
    fn change_pin<E: Env>(&mut self, env: &mut E, req: &Request<'_>) -> Result<(), Error> {
        // Steps 1–2.
        let peer = required_value(req.key_agreement)?;
        let pin_hash_enc = required_value(req.pin_hash_enc)?;
        let new_pin_enc = required_value(req.new_pin_enc)?;
        let param = required_value(req.pin_uv_auth_param)?;
        let protocol = req.protocol()?;
        // Step 3: PIN_BLOCKED at 0 retries (and PIN_AUTH_BLOCKED until a
        // power cycle).
        self.check_not_blocked(env)?;
        // Steps 4–5: the MAC covers newPinEnc || pinHashEnc.
        let shared = self.pin.decapsulate(env, protocol, peer)?;
        let message = [new_pin_enc, pin_hash_enc].concat();
        if !shared.verify(&message, param) {
            return Err(CtapError::PinAuthInvalid.into());
        }
        // Steps 6–8: decrement, persist, compare.
        self.check_pin_hash_enc(env, &shared, pin_hash_enc)?;
        // Steps 9–10: the new PIN under the current policy.
        let mut config = DeviceSettings::load(env.store())?;
        let (pin, code_points) = decrypt_new_pin(&shared, new_pin_enc, config.min_pin_length)?;
        // §6.5.5.6: with forcePINChange, the same PIN again is a policy
        // violation.
        if config.force_pin_change {
            let current = retries::load_pin(env.store())?.ok_or(CtapError::PinNotSet)?;
            if ct_eq(retries::pin_hash(&pin).as_slice(), current.hash.as_slice()) {
                return Err(CtapError::PinPolicyViolation.into());
            }
        }
        retries::save_pin(env.store(), &pin, code_points)?;
        if config.force_pin_change {
            config.force_pin_change = false;
            config.save(env.store())?;
        }
        // Step 11: every existing pinUvAuthToken is invalidated, the
        // persistent one too (CTAP 2.2: persistent permissions are cleared
        // on PIN change).
        self.pin.reset_tokens(env);
        persistent::revoke(env.store())?;
        Ok(())
    }

    /// §6.5.5.7.1 getPinToken (superseded, kept for CTAP 2.0 platforms):
    /// a token with the default mc+ga permissions and no RP ID.
    fn get_pin_token<E: Env>(&mut self, env: &mut E, req: &Request<'_>) -> Result<Value, Error> {
        let peer = required_value(req.key_agreement)?;
        let pin_hash_enc = required_value(req.pin_hash_enc)?;
        let protocol = req.protocol()?;
        // "If permissions or rpId are present, return CTAP1_ERR_INVALID_PARAMETER."
        if req.permissions.is_some() || req.rp_id.is_some() {
            return Err(CtapError::InvalidParameter.into());
        }
        // With forcePINChange set, the right PIN still gets
        // CTAP2_ERR_PIN_INVALID from this (2.0-era) subcommand.
        let grant = Grant {
            permissions: DEFAULT_PERMISSIONS,
            rp_id: None,
            persistent: false,
            if_pin_change_forced: CtapError::PinInvalid,
        };
        self.issue_token(env, protocol, peer, pin_hash_enc, grant)
    }

    /// §6.5.5.7.2 getPinUvAuthTokenUsingPinWithPermissions.
    fn get_token_using_pin<E: Env>(
        &mut self,
        env: &mut E,
        req: &Request<'_>,
    ) -> Result<Value, Error> {
        // Steps 1–2.
        let peer = required_value(req.key_agreement)?;
        let pin_hash_enc = required_value(req.pin_hash_enc)?;
        required_value(req.permissions)?;
        let protocol = req.protocol()?;
        let grant = Self::grant(req)?;
        self.issue_token(env, protocol, peer, pin_hash_enc, grant)
    }

    /// §6.5.5.7.3 getPinUvAuthTokenUsingUvWithPermissions, on a key with
    /// built-in UV: the same permission checks as with a PIN, then one
    /// gesture (pin/built_in_uv.rs) instead of pinHashEnc. The token carries
    /// the gesture as its userPresent flag.
    fn get_token_using_uv<E: Env>(
        &mut self,
        env: &mut E,
        req: &Request<'_>,
    ) -> Result<Value, Error> {
        // Steps 1–3: parameters, protocol, permissions (forcePINChange
        // concerns PIN entry only).
        let peer = required_value(req.key_agreement)?;
        required_value(req.permissions)?;
        let protocol = req.protocol()?;
        let grant = Self::grant(req)?;
        // The shared secret before the gesture: a platform that sent a bad
        // key agreement key is told so without asking for a finger.
        let shared = self.pin.decapsulate(env, protocol, peer)?;
        // Steps 4–8: uvRetries, performBuiltInUv, UV_BLOCKED / UV_INVALID.
        let (operation, requester) = match (grant.permissions, grant.rp_id.as_deref()) {
            (p, Some(rp)) if p & Permission::MakeCredential as u8 != 0 => {
                (Operation::Register, Requester::Rp(rp))
            }
            (_, Some(rp)) => (Operation::SignIn, Requester::Rp(rp)),
            (_, None) => (Operation::ManageCredentials, Requester::Device),
        };
        let request = PresenceRequest {
            operation,
            requester,
            user_name: None,
            user_display_name: None,
        };
        if let Err(failure) = built_in_uv::perform(env, &request)? {
            return Err(failure.token_status().into());
        }
        // Steps 9–12: a new token, in use, user present; or the
        // persistent one.
        let token = if grant.persistent {
            persistent::grant(env)?
        } else {
            self.pin
                .issue_token(env, protocol, true, grant.permissions, grant.rp_id)
        };
        let encrypted = shared.encrypt(env, token.as_slice())?;
        Ok(Value::int_map(vec![(
            key::PIN_UV_AUTH_TOKEN,
            Value::Bytes(encrypted),
        )]))
    }

    /// The permissions of a token request (§6.5.5.7.2 steps 3–4, and the
    /// same in §6.5.5.7.3): what is granted, or why not.
    fn grant(req: &Request<'_>) -> Result<Grant, CtapError> {
        let permissions = required_value(req.permissions)?;
        // Step 3: "If the permissions parameter value is 0, return
        // CTAP1_ERR_INVALID_PARAMETER."
        if permissions == 0 {
            return Err(CtapError::InvalidParameter);
        }
        // Step 4: a defined permission we cannot grant (be: no bio
        // enrollment) is CTAP2_ERR_UNAUTHORIZED_PERMISSION; undefined bits
        // are ignored. pcmr (CTAP 2.2) is granted alone, as the persistent
        // token (pin/persistent.rs): asked together with others, it is
        // refused the same way.
        let permissions = permissions & DEFINED_PERMISSIONS;
        let persistent = permissions == u64::from(persistent::PCMR);
        if !persistent && permissions & !SUPPORTED_PERMISSIONS != 0 {
            return Err(CtapError::UnauthorizedPermission);
        }
        // §6.5.5.7 note: the rpId is required with the mc and ga permissions.
        let rp_scoped = (Permission::MakeCredential as u64 | Permission::GetAssertion as u64)
            & permissions
            != 0;
        if !persistent && rp_scoped && req.rp_id.is_none() {
            return Err(CtapError::InvalidParameter);
        }
        Ok(Grant {
            permissions: u8::try_from(permissions)
                .map_err(|_| CtapError::UnauthorizedPermission)?,
            rp_id: req.rp_id.map(str::to_owned),
            persistent,
            // §6.5.5.7.2 step 10: the right PIN under forcePINChange.
            if_pin_change_forced: CtapError::PinPolicyViolation,
        })
    }

    /// The common tail of getPinToken and
    /// getPinUvAuthTokenUsingPinWithPermissions (§6.5.5.7.2 steps 5–15,
    /// and the same steps of §6.5.5.7.1).
    fn issue_token<E: Env>(
        &mut self,
        env: &mut E,
        protocol: PinProtocol,
        peer: &Value,
        pin_hash_enc: &[u8],
        grant: Grant,
    ) -> Result<Value, Error> {
        // Step 5: PIN_BLOCKED / PIN_AUTH_BLOCKED.
        self.check_not_blocked(env)?;
        // Step 6: the shared secret.
        let shared = self.pin.decapsulate(env, protocol, peer)?;
        // Steps 7–9: decrement, persist, compare; restore on success.
        self.check_pin_hash_enc(env, &shared, pin_hash_enc)?;
        // Step 10: forcePINChange refuses even the right PIN; the two
        // subcommands answer differently (see `Grant`).
        if DeviceSettings::load(env.store())?.force_pin_change {
            return Err(grant.if_pin_change_forced.into());
        }
        // Steps 11–14: a new token, in use, with these permissions; or the
        // persistent one.
        let token = if grant.persistent {
            persistent::grant(env)?
        } else {
            self.pin
                .issue_token(env, protocol, false, grant.permissions, grant.rp_id)
        };
        // Step 15: the token, encrypted for the platform.
        let encrypted = shared.encrypt(env, token.as_slice())?;
        Ok(Value::int_map(vec![(
            key::PIN_UV_AUTH_TOKEN,
            Value::Bytes(encrypted),
        )]))
    }

    /// Refuses PIN attempts at 0 retries (CTAP2_ERR_PIN_BLOCKED), after 3
    /// mismatches since power-up (CTAP2_ERR_PIN_AUTH_BLOCKED), and without
    /// a PIN (CTAP2_ERR_PIN_NOT_SET).
    fn check_not_blocked<E: Env>(&mut self, env: &mut E) -> Result<(), Error> {
        if !self.pin_is_set(env)? {
            return Err(CtapError::PinNotSet.into());
        }
        if retries::retries(env.store())? == 0 {
            return Err(CtapError::PinBlocked.into());
        }
        if self.pin.power_cycle_needed() {
            return Err(CtapError::PinAuthBlocked.into());
        }
        Ok(())
    }

    /// §6.5.5.7.2 steps 7–9 (and §6.5.5.6 steps 6–8).
    fn check_pin_hash_enc<E: Env>(
        &mut self,
        env: &mut E,
        shared: &SharedSecret,
        pin_hash_enc: &[u8],
    ) -> Result<(), Error> {
        let stored = retries::load_pin(env.store())?.ok_or(CtapError::PinNotSet)?;
        // Step 7: "decrement pinRetries by 1" — durably, before anything
        // is compared. A store failure ends the request here: no compare,
        // no answer about the PIN.
        let left = retries::decrement(env.store())?;
        // Step 8: decrypt and compare in constant time. A pinHashEnc that
        // does not even decrypt to 16 bytes is a wrong PIN like any other.
        let matches = shared
            .decrypt(pin_hash_enc)
            .is_ok_and(|hash| ct_eq(&hash, stored.hash.as_slice()));
        if !matches {
            self.pin.record_mismatch(env, shared.protocol());
            return Err(if left == 0 {
                CtapError::PinBlocked
            } else if self.pin.power_cycle_needed() {
                CtapError::PinAuthBlocked
            } else {
                CtapError::PinInvalid
            }
            .into());
        }
        // Step 9: a match restores the counters, uvRetries too: the PIN
        // is how a key whose built-in UV is blocked gets it back.
        self.pin.record_match();
        retries::set_retries(env.store(), MAX_PIN_RETRIES)?;
        built_in_uv::restore(env.store())
    }
}

/// Decrypts newPinEnc and applies the PIN policy (§6.5.5.5 steps 6–7):
/// 64 padded bytes (else CTAP1_ERR_INVALID_PARAMETER); the PIN is the bytes
/// before the first zero, at most 63 bytes, followed only by zeros, valid
/// UTF-8 of at least minPINLength code points (else
/// CTAP2_ERR_PIN_POLICY_VIOLATION). Returns the PIN and its length in code
/// points.
fn decrypt_new_pin(
    shared: &SharedSecret,
    new_pin_enc: &[u8],
    min_pin_length: u8,
) -> Result<(Zeroizing<Vec<u8>>, u8), CtapError> {
    let padded = shared
        .decrypt(new_pin_enc)
        .map_err(|_| CtapError::InvalidParameter)?;
    if padded.len() != PADDED_PIN_LEN {
        return Err(CtapError::InvalidParameter);
    }
    let len = padded
        .iter()
        .position(|&b| b == 0)
        .ok_or(CtapError::PinPolicyViolation)?;
    let (pin, padding) = padded.split_at(len);
    if padding.iter().any(|&b| b != 0) {
        return Err(CtapError::PinPolicyViolation);
    }
    let code_points = core::str::from_utf8(pin)
        .map_err(|_| CtapError::PinPolicyViolation)?
        .chars()
        .count();
    let code_points = u8::try_from(code_points).map_err(|_| CtapError::PinPolicyViolation)?;
    if code_points < min_pin_length || pin.len() > MAX_PIN_BYTES {
        return Err(CtapError::PinPolicyViolation);
    }
    Ok((Zeroizing::new(pin.to_vec()), code_points))
}
