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
//! store: [`retries`] (PIN hash, pinRetries) and [`crate::settings`].

use zeroize::Zeroizing;

use crate::cbor::Value;
use crate::env::Env;
use crate::status::CtapError;

pub(crate) mod built_in_uv;
pub(crate) mod persistent;
pub(crate) mod primitives;
pub(crate) mod protocol;
mod protocol1;
mod protocol2;
pub(crate) mod retries;
mod token;

pub(crate) use crate::settings::DeviceSettings;
pub(crate) use protocol::{PinProtocol, SharedSecret};
#[cfg(any(test, feature = "testing"))]
pub(crate) use protocol::{
    cose_key as platform_cose_key, parse_cose_key as parse_platform_cose_key,
};

use protocol::KeyAgreementKey;
use token::{TOKEN_LEN, TokenState, TokenUnusable};

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

/// §6.5.5.5: "the PIN ... MUST be at most 63 bytes".
pub(crate) const MAX_PIN_BYTES: usize = 63;

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

    /// Invalidates every pinUvAuthToken (§6.5.5.5 step 11, a PIN change).
    pub(crate) fn reset_tokens<E: Env>(&mut self, env: &mut E) {
        self.token.reset(env);
    }

    /// §6.5.5.7.2 steps 11–14: a new pinUvAuthToken for `protocol`, in use,
    /// with `permissions` and the RP id it is bound to; every earlier token
    /// is invalidated. `user_present`: it came from a gesture (built-in
    /// UV, §6.5.5.7.3), not from a PIN typed on the platform.
    pub(crate) fn issue_token<E: Env>(
        &mut self,
        env: &mut E,
        protocol: PinProtocol,
        user_present: bool,
        permissions: u8,
        rp_id: Option<String>,
    ) -> Zeroizing<[u8; TOKEN_LEN]> {
        self.token.reset(env);
        self.token
            .begin_using(env.now(), user_present, permissions, rp_id);
        Zeroizing::new(*self.token.token(env, protocol))
    }

    /// A wrong PIN (§6.5.5.7.2 step 8): a new key agreement key for the
    /// protocol, and one more consecutive mismatch toward the power cycle.
    pub(crate) fn record_mismatch<E: Env>(&mut self, env: &mut E, protocol: PinProtocol) {
        self.regenerate(env, protocol);
        self.consecutive_mismatches = self
            .consecutive_mismatches
            .saturating_add(1)
            .min(MAX_CONSECUTIVE_MISMATCHES);
    }

    /// The right PIN (§6.5.5.7.2 step 9): the mismatch count starts over.
    pub(crate) fn record_match(&mut self) {
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

    /// The token checks of a pinUvAuthParam verification (see
    /// `Authenticator::verify_pin_uv_auth_param`, which checks first that a
    /// PIN is set): the param verifies under the current token, the token is
    /// in use, has `permission`, is bound to `rp_id` or becomes bound to it,
    /// and for mc/ga still carries its userVerified flag.
    #[allow(clippy::too_many_arguments)] // the spec's inputs, each distinct
    pub(crate) fn verify_token<E: Env>(
        &mut self,
        env: &mut E,
        protocol: PinProtocol,
        param: &[u8],
        message: &[u8],
        permission: Permission,
        rp_id: Option<&str>,
    ) -> Result<(), CtapError> {
        let now = env.now();
        let usable = self.token.usable(now);
        let token = self.token.token(env, protocol);
        if !protocol.verify(token, message, param) {
            return Err(CtapError::PinAuthInvalid);
        }
        match usable {
            Ok(()) => {}
            // §6.5.2.1: a token whose usage timer ran out was stopped
            // (stopUsingPinUvAuthToken), so it verifies as one never issued.
            // CTAP 2.0's PIN_TOKEN_EXPIRED (0x38) is reserved in 2.1.
            Err(TokenUnusable::Expired | TokenUnusable::NotInUse) => {
                return Err(CtapError::PinAuthInvalid);
            }
        }
        // §6.1.2 step 11.2, §6.2.2 step 6.1.4 and the like: "Verify that the
        // pinUvAuthToken has the … permission, if not, return
        // CTAP2_ERR_PIN_AUTH_INVALID."
        if !self.token.has_permission(permission as u8) {
            return Err(CtapError::PinAuthInvalid);
        }
        if let Some(rp_id) = rp_id {
            match self.token.permissions_rp_id() {
                Some(bound) if bound != rp_id => return Err(CtapError::PinAuthInvalid),
                Some(_) => {}
                None => self.token.bind_rp_id(rp_id),
            }
        }
        // §6.1.2 step 11.4 / §6.2.2 step 6.4: "If userVerifiedFlagValue is false".
        if matches!(
            permission,
            Permission::MakeCredential | Permission::GetAssertion
        ) && !self.token.user_verified()
        {
            return Err(CtapError::PinAuthInvalid);
        }
        self.token.mark_used();
        Ok(())
    }

    /// The permissions RP ID of the current pinUvAuthToken, if it has one
    /// (credentialManagement needs it to refuse RP-bound tokens for
    /// device-wide subcommands).
    pub(crate) fn token_rp_id(&self) -> Option<&str> {
        self.token.permissions_rp_id()
    }

    /// `clearUserVerifiedFlag()` and
    /// `clearPinUvAuthTokenPermissionsExceptLbw()` (§6.1.2 step 14,
    /// §6.2.2 step 9).
    pub(crate) fn consume_token_for_mc_ga(&mut self) {
        self.token.consume_for_mc_ga();
    }

    /// `getUserPresentFlagValue()` of the current token.
    pub(crate) fn token_user_present(&self) -> bool {
        self.token.user_present()
    }

    /// `stopUsingPinUvAuthToken()`: the current token stops verifying.
    pub(crate) fn stop_using_token(&mut self) {
        self.token.stop_using();
    }

    /// powerCycleState: whether PIN operations need a power cycle first.
    pub(crate) fn power_cycle_needed(&self) -> bool {
        self.consecutive_mismatches >= MAX_CONSECUTIVE_MISMATCHES
    }
}

#[cfg(test)]
mod built_in_uv_tests;
#[cfg(test)]
mod retry_tests;
#[cfg(test)]
mod tests;
