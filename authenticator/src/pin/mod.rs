//! PIN/UV auth (CTAP 2.1 §6.5): the clientPIN command, PIN/UV auth
//! protocols 1 and 2, the pinUvAuthToken and the PIN retry counters, plus
//! the hooks other commands use: verify a pinUvAuthParam (makeCredential,
//! getAssertion, credentialManagement, largeBlobs, authenticatorConfig),
//! forget everything (authenticatorReset) and the authenticatorConfig
//! settings (alwaysUv, enterprise attestation, minPINLength).
//!
//! RAM state ([`PinState`]): the key agreement keys, the pinUvAuthToken and
//! the consecutive-mismatch counter. All three are renewed by
//! [`Authenticator::power_up`] — for softkey a power cycle is a process
//! start or a USB/IP attach (SECURITY.md "The CTAP PIN"). Durable state lives in the
//! store: [`retries`] (PIN hash, pinRetries) and [`device_config`].

use crate::Authenticator;
use crate::cbor::Value;
use crate::env::Env;
use crate::error::Error;
use crate::status::CtapError;

mod client_pin;
pub(crate) mod device_config;
mod primitives;
mod protocol;
mod protocol1;
mod protocol2;
pub(crate) mod retries;
mod token;

pub(crate) use device_config::DeviceConfig;
pub(crate) use protocol::{PinProtocol, SharedSecret};
#[cfg(any(test, feature = "testing"))]
pub(crate) use protocol::{
    cose_key as platform_cose_key, parse_cose_key as parse_platform_cose_key,
};

use protocol::KeyAgreementKey;
use token::{TokenState, TokenUnusable};

/// pinUvAuthToken permissions (CTAP 2.1 §6.5.5.7 "permissions" bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Permission {
    MakeCredential = 0x01,
    GetAssertion = 0x02,
    CredentialManagement = 0x04,
    BioEnrollment = 0x08,
    LargeBlobWrite = 0x10,
    AuthenticatorConfig = 0x20,
}

// be is part of the permission set (getPinUvAuthTokenUsingPinWithPermissions
// refuses it: no bio enrollment), so no token ever carries it.
const _: Permission = Permission::BioEnrollment;

/// §6.5.5.7: after 3 consecutive mismatches, PIN_AUTH_BLOCKED until a
/// power cycle.
const MAX_CONSECUTIVE_MISMATCHES: u8 = 3;

/// The PIN/UV RAM state of an [`Authenticator`].
#[derive(Debug, Default)]
pub(crate) struct PinState {
    /// One key agreement key per protocol ([`PinProtocol::index`]),
    /// generated on first need after construction.
    key_agreement: [Option<KeyAgreementKey>; 2],
    token: TokenState,
    consecutive_mismatches: u8,
}

impl PinState {
    /// A power-up (§6.5.6 `initialize()` for every protocol): new key
    /// agreement keys, new pinUvAuthTokens, the mismatch counter cleared.
    pub(crate) fn power_up<E: Env>(&mut self, env: &mut E) {
        for protocol in [PinProtocol::One, PinProtocol::Two] {
            self.regenerate(env, protocol);
        }
        self.token.reset(env);
        self.consecutive_mismatches = 0;
    }

    /// `regenerate()`: a new key agreement key. A broken RNG leaves no key
    /// (the next use tries again and fails with CTAP1_ERR_OTHER).
    fn regenerate<E: Env>(&mut self, env: &mut E, protocol: PinProtocol) {
        if let Some(slot) = self.key_agreement.get_mut(protocol.index()) {
            *slot = KeyAgreementKey::generate(env).ok();
        }
    }

    fn key_agreement<E: Env>(
        &mut self,
        env: &mut E,
        protocol: PinProtocol,
    ) -> Result<&KeyAgreementKey, CtapError> {
        let slot = self
            .key_agreement
            .get_mut(protocol.index())
            .ok_or(CtapError::Other)?;
        if slot.is_none() {
            *slot = Some(KeyAgreementKey::generate(env)?);
        }
        slot.as_ref().ok_or(CtapError::Other)
    }

    /// `getPublicKey()` of the protocol's key agreement key.
    pub(crate) fn public_key<E: Env>(
        &mut self,
        env: &mut E,
        protocol: PinProtocol,
    ) -> Result<Value, CtapError> {
        self.key_agreement(env, protocol)?.cose_public_key()
    }

    /// `decapsulate(peerCoseKey)` with the protocol's key agreement key.
    pub(crate) fn decapsulate<E: Env>(
        &mut self,
        env: &mut E,
        protocol: PinProtocol,
        peer: &Value,
    ) -> Result<SharedSecret, CtapError> {
        self.key_agreement(env, protocol)?
            .decapsulate(protocol, peer)
    }

    /// powerCycleState: whether PIN operations need a power cycle first.
    pub(crate) fn power_cycle_needed(&self) -> bool {
        self.consecutive_mismatches >= MAX_CONSECUTIVE_MISMATCHES
    }
}

impl Authenticator {
    /// CTAP 2.1 §6.5.5.7 / §6.5.5.8 verification of a pinUvAuthParam
    /// computed with the pinUvAuthToken over `message`, for an operation
    /// that needs `permission` (and, for RP-scoped operations, `rp_id`).
    ///
    /// Errors: an unsupported protocol is CTAP1_ERR_INVALID_PARAMETER and
    /// no PIN at all CTAP2_ERR_PIN_NOT_SET (CTAP 2.0's rule, which 2.1
    /// leaves standing). Every other refusal is CTAP2_ERR_PIN_AUTH_INVALID,
    /// as each command's steps say: a param that does not verify (constant
    /// time), a token never issued or stopped by its usage timer, a token
    /// without the permission, another RP's token, an mc/ga token whose
    /// userVerified flag was consumed (§6.1.2 step 11, §6.2.2 step 6,
    /// §6.8 steps 1–4, §6.10.2 step 5, §6.11 step 4; python-fido2's device
    /// suite tests the permission case for credMgmt and largeBlobs).
    /// CTAP2_ERR_UNAUTHORIZED_PERMISSION belongs to clientPIN alone: a
    /// token is *asked for* with a permission the key cannot grant.
    /// An unbound token is bound to `rp_id` (§6.1.2 step 11.6).
    pub(crate) fn verify_pin_uv_auth_param<E: Env>(
        &mut self,
        env: &mut E,
        protocol: u64,
        param: &[u8],
        message: &[u8],
        permission: Permission,
        rp_id: Option<&str>,
    ) -> Result<(), Error> {
        let protocol = PinProtocol::from_number(protocol)?;
        if !self.pin_is_set(env)? {
            return Err(CtapError::PinNotSet.into());
        }
        let now = env.now();
        let usable = self.pin.token.usable(now);
        let token = self.pin.token.token(env, protocol);
        if !protocol.verify(token, message, param) {
            return Err(CtapError::PinAuthInvalid.into());
        }
        match usable {
            Ok(()) => {}
            // §6.5.2.1: a token whose usage timer ran out was stopped
            // (stopUsingPinUvAuthToken), so it verifies as one never issued.
            // CTAP 2.0's PIN_TOKEN_EXPIRED (0x38) is reserved in 2.1.
            Err(TokenUnusable::Expired | TokenUnusable::NotInUse) => {
                return Err(CtapError::PinAuthInvalid.into());
            }
        }
        // §6.1.2 step 11.2, §6.2.2 step 6.1.4 and the like: "Verify that the
        // pinUvAuthToken has the … permission, if not, return
        // CTAP2_ERR_PIN_AUTH_INVALID."
        if !self.pin.token.has_permission(permission as u8) {
            return Err(CtapError::PinAuthInvalid.into());
        }
        if let Some(rp_id) = rp_id {
            match self.pin.token.permissions_rp_id() {
                Some(bound) if bound != rp_id => return Err(CtapError::PinAuthInvalid.into()),
                Some(_) => {}
                None => self.pin.token.bind_rp_id(rp_id),
            }
        }
        // §6.1.2 step 11.4 / §6.2.2 step 6.4: "If userVerifiedFlagValue is false".
        if matches!(
            permission,
            Permission::MakeCredential | Permission::GetAssertion
        ) && !self.pin.token.user_verified()
        {
            return Err(CtapError::PinAuthInvalid.into());
        }
        self.pin.token.mark_used();
        Ok(())
    }

    /// The permissions RP ID of the current pinUvAuthToken, if it has one
    /// (credentialManagement needs it to refuse RP-bound tokens for
    /// device-wide subcommands).
    pub(crate) fn pin_token_rp_id(&self) -> Option<&str> {
        self.pin.token.permissions_rp_id()
    }

    /// After a makeCredential/getAssertion that verified a pinUvAuthParam
    /// collected presence: `clearUserVerifiedFlag()`,
    /// `clearPinUvAuthTokenPermissionsExceptLbw()` (§6.1.2 step 14,
    /// §6.2.2 step 9).
    pub(crate) fn consume_pin_token_for_mc_ga(&mut self) {
        self.pin.token.consume_for_mc_ga();
    }

    /// Whether a PIN is set (store-backed).
    pub(crate) fn pin_is_set<E: Env>(&mut self, env: &mut E) -> Result<bool, Error> {
        Ok(retries::load_pin(env.store())?.is_some())
    }

    /// The persistent device configuration.
    pub(crate) fn device_config<E: Env>(&mut self, env: &mut E) -> Result<DeviceConfig, Error> {
        DeviceConfig::load(env.store())
    }

    /// authenticatorConfig setMinPINLength (CTAP 2.1 §6.11.4). The caller
    /// (authenticatorConfig) has verified the pinUvAuthParam.
    ///
    /// Step 4: a new minimum below the current one is
    /// CTAP2_ERR_PIN_POLICY_VIOLATION. Step 5: the RP ID list replaces the
    /// old one. Step 6: forcePINChange is set when asked or when the
    /// current PIN is shorter than the new minimum; with no PIN set,
    /// forceChangePin is CTAP2_ERR_PIN_NOT_SET.
    pub(crate) fn set_min_pin_length<E: Env>(
        &mut self,
        env: &mut E,
        new_min: Option<u64>,
        rp_ids: Option<Vec<String>>,
        force_change: bool,
    ) -> Result<(), Error> {
        let mut config = DeviceConfig::load(env.store())?;
        let pin = retries::load_pin(env.store())?;
        if force_change && pin.is_none() {
            return Err(CtapError::PinNotSet.into());
        }
        let new_min = match new_min {
            None => config.min_pin_length,
            Some(n) => {
                let n = u8::try_from(n).map_err(|_| CtapError::PinPolicyViolation)?;
                // A PIN is at most 63 bytes, so at most 63 code points.
                if n < config.min_pin_length || usize::from(n) > client_pin::MAX_PIN_BYTES {
                    return Err(CtapError::PinPolicyViolation.into());
                }
                n
            }
        };
        if let Some(rp_ids) = rp_ids {
            config.min_pin_length_rp_ids = rp_ids;
        }
        let too_short = pin.is_some_and(|p| p.code_points < new_min);
        config.min_pin_length = new_min;
        config.force_pin_change |= force_change || too_short;
        config.save(env.store())?;
        if config.force_pin_change {
            // The current token was issued under the old policy.
            self.pin.token.stop_using();
        }
        Ok(())
    }

    /// authenticatorConfig toggleAlwaysUv (CTAP 2.1 §6.11.3).
    pub(crate) fn toggle_always_uv<E: Env>(&mut self, env: &mut E) -> Result<(), Error> {
        let mut config = DeviceConfig::load(env.store())?;
        config.always_uv = !config.always_uv;
        config.save(env.store())
    }

    /// authenticatorConfig enableEnterpriseAttestation (CTAP 2.1 §6.11.2).
    pub(crate) fn enable_enterprise_attestation<E: Env>(
        &mut self,
        env: &mut E,
    ) -> Result<(), Error> {
        let mut config = DeviceConfig::load(env.store())?;
        config.enterprise_attestation = true;
        config.save(env.store())
    }
}

#[cfg(test)]
mod retry_tests;
#[cfg(test)]
mod tests;
