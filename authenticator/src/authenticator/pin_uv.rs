//! The PIN/UV auth checks the commands share (CTAP 2.1 §6.5.5.7,
//! §6.5.5.8): verifying a pinUvAuthParam against the current
//! pinUvAuthToken, and the device settings authenticatorConfig changes.
//! Methods of the authenticator because they join its PIN/UV RAM state
//! ([`crate::pin::PinState`]) with the store.

use crate::Authenticator;
use crate::env::Env;
use crate::error::Error;
use crate::pin::retries;
use crate::pin::{DeviceSettings, MAX_PIN_BYTES, Permission, PinProtocol};
use crate::status::CtapError;

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
        if protocol == 2 && self.config.ctap_version == crate::profile::CtapVersion::Ctap20 {
            return Err(CtapError::InvalidParameter.into());
        }
        let protocol = PinProtocol::from_number(protocol)?;
        // A token needs a PIN, or built-in UV to have been issued by.
        if !self.is_protected(env)? {
            return Err(CtapError::PinNotSet.into());
        }
        Ok(self
            .pin
            .verify_token(env, protocol, param, message, permission, rp_id)?)
    }

    /// The permissions RP ID of the current pinUvAuthToken, if it has one
    /// (credentialManagement needs it to refuse RP-bound tokens for
    /// device-wide subcommands).
    pub(crate) fn pin_token_rp_id(&self) -> Option<&str> {
        self.pin.token_rp_id()
    }

    /// After a makeCredential/getAssertion that verified a pinUvAuthParam
    /// collected presence: `clearUserVerifiedFlag()`,
    /// `clearPinUvAuthTokenPermissionsExceptLbw()` (§6.1.2 step 14,
    /// §6.2.2 step 9).
    pub(crate) fn consume_pin_token_for_mc_ga(&mut self) {
        self.pin.consume_token_for_mc_ga();
    }

    /// Whether the current token carries a gesture (built-in UV) that the
    /// next mc/ga takes as presence (§6.1.2 step 14.1, §6.2.2 step 9).
    pub(crate) fn pin_token_user_present(&self) -> bool {
        self.pin.token_user_present()
    }

    /// "Protected by some form of user verification" (CTAP 2.1 §6.1.2
    /// steps 1 and 6): a PIN is set, or the key has built-in UV.
    pub(crate) fn is_protected<E: Env>(&mut self, env: &mut E) -> Result<bool, Error> {
        Ok(self.config.built_in_uv || self.pin_is_set(env)?)
    }

    /// Whether a PIN is set (store-backed).
    pub(crate) fn pin_is_set<E: Env>(&mut self, env: &mut E) -> Result<bool, Error> {
        Ok(retries::load_pin(env.store())?.is_some())
    }

    /// The persistent device configuration.
    pub(crate) fn device_settings<E: Env>(&mut self, env: &mut E) -> Result<DeviceSettings, Error> {
        DeviceSettings::load(env.store())
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
        let mut config = DeviceSettings::load(env.store())?;
        let pin = retries::load_pin(env.store())?;
        if force_change && pin.is_none() {
            return Err(CtapError::PinNotSet.into());
        }
        let new_min = match new_min {
            None => config.min_pin_length,
            Some(n) => {
                let n = u8::try_from(n).map_err(|_| CtapError::PinPolicyViolation)?;
                // A PIN is at most 63 bytes, so at most 63 code points.
                if n < config.min_pin_length || usize::from(n) > MAX_PIN_BYTES {
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
            self.pin.stop_using_token();
        }
        Ok(())
    }

    /// authenticatorConfig toggleAlwaysUv (CTAP 2.1 §6.11.3).
    pub(crate) fn toggle_always_uv<E: Env>(&mut self, env: &mut E) -> Result<(), Error> {
        let mut config = DeviceSettings::load(env.store())?;
        config.always_uv = !config.always_uv;
        config.save(env.store())
    }

    /// authenticatorConfig enableEnterpriseAttestation (CTAP 2.1 §6.11.2).
    pub(crate) fn enable_enterprise_attestation<E: Env>(
        &mut self,
        env: &mut E,
    ) -> Result<(), Error> {
        let mut config = DeviceSettings::load(env.store())?;
        config.enterprise_attestation = true;
        config.save(env.store())
    }
}
