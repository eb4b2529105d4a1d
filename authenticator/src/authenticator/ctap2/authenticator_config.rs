//! authenticatorConfig (CTAP 2.1 §6.11): enableEnterpriseAttestation,
//! toggleAlwaysUv and setMinPINLength. The settings themselves belong to
//! the PIN module ([`crate::pin`]); this file parses the request, enforces
//! the §6.11.1 authorisation steps and calls the PIN module's hooks.

use super::credential_management::raw_sub_command_params;
use crate::Authenticator;
use crate::attestation;
use crate::cbor::fields::{self, Fields, optional, required};
use crate::cbor::{self, Value};
use crate::env::Env;
use crate::error::Error;
use crate::pin::Permission;
use crate::status::CtapError;

/// §6.11 subCommand values.
const ENABLE_ENTERPRISE_ATTESTATION: u64 = 0x01;
const TOGGLE_ALWAYS_UV: u64 = 0x02;
const SET_MIN_PIN_LENGTH: u64 = 0x03;

/// §6.11.4 setMinPINLength subCommandParams.
#[derive(Debug, Default, PartialEq, Eq)]
struct MinPinLength {
    new_min_pin_length: Option<u64>,
    min_pin_length_rp_ids: Option<Vec<String>>,
    force_change_pin: bool,
}

impl MinPinLength {
    fn parse(params: Option<&Value>) -> Result<Self, CtapError> {
        // Every member is optional, so absent params mean "change nothing
        // but still apply the rules" (step 2.1: absent newMinPINLength is
        // the current one).
        let Some(params) = params else {
            return Ok(MinPinLength::default());
        };
        let f = Fields::of(params)?;
        let rp_ids = optional(f.int(0x02), |v| {
            fields::array(v)?
                .iter()
                .map(|id| fields::text(id).map(str::to_owned))
                .collect::<Result<Vec<String>, CtapError>>()
        })?;
        Ok(MinPinLength {
            new_min_pin_length: optional(f.int(0x01), fields::unsigned)?,
            min_pin_length_rp_ids: rp_ids,
            force_change_pin: optional(f.int(0x03), fields::boolean)?.unwrap_or(false),
        })
    }
}

impl Authenticator {
    pub(crate) fn authenticator_config<E: Env>(
        &mut self,
        env: &mut E,
        params: &[u8],
    ) -> Result<(), Error> {
        let value = cbor::decode(params)?;
        let f = Fields::of(&value)?;
        // Step 1: subCommand is required.
        let sub_command = fields::unsigned(required(f.int(0x01))?)?;
        let sub_command_params = f.int(0x02);
        if let Some(p) = sub_command_params {
            Fields::of(p)?;
        }
        let protocol = optional(f.int(0x03), fields::unsigned)?;
        let param = optional(f.int(0x04), fields::bytes)?;
        // Step 2: unsupported subcommands are INVALID_PARAMETER: the
        // vendorPrototype (0xFF, we have no vendor commands), unknown ones,
        // and enableEnterpriseAttestation while no enterprise attestation
        // can be produced (getInfo then has no "ep" option).
        let supported = match sub_command {
            TOGGLE_ALWAYS_UV | SET_MIN_PIN_LENGTH => true,
            ENABLE_ENTERPRISE_ATTESTATION => attestation::enterprise_attestation_capable(env)?,
            _ => false,
        };
        if !supported {
            return Err(CtapError::InvalidParameter.into());
        }
        let sub_command_byte =
            u8::try_from(sub_command).map_err(|_| CtapError::InvalidParameter)?;
        // Parse setMinPINLength's params before authorising, so a malformed
        // request fails the same way with or without a PIN.
        let min_pin_length = if sub_command == SET_MIN_PIN_LENGTH {
            Some(MinPinLength::parse(sub_command_params)?)
        } else {
            None
        };
        let pin_set = self.pin_is_set(env)?;
        let always_uv = self.device_settings(env)?.always_uv;
        // Step 3: with alwaysUv on and no UV configured, toggleAlwaysUv runs
        // unauthenticated (otherwise alwaysUv could never be turned off
        // before a PIN exists).
        let bypass = sub_command == TOGGLE_ALWAYS_UV && !pin_set && always_uv;
        // Step 4: a PIN or alwaysUv means every other call is authorised
        // by an acfg token. Without both, config runs unauthenticated
        // ("authenticatorConfig can be invoked without user verification
        // if user verification is not configured").
        if !bypass && (pin_set || always_uv) {
            let param = param.ok_or(CtapError::PuatRequired)?; // 4.1
            let protocol = protocol.ok_or(CtapError::MissingParameter)?; // 4.2
            // 4.4: 32×0xff || 0x0d || uint8(subCommand) || subCommandParams.
            let mut message = vec![0xFF; 32];
            message.extend_from_slice(&[0x0D, sub_command_byte]);
            message.extend_from_slice(&raw_sub_command_params(sub_command_params));
            // 4.3 (protocol), 4.4 (verify), 4.5 (acfg permission, else
            // PIN_AUTH_INVALID).
            self.verify_pin_uv_auth_param(
                env,
                protocol,
                param,
                &message,
                Permission::AuthenticatorConfig,
                None,
            )?;
        }
        // Steps 5–6: run the subcommand.
        match (sub_command, min_pin_length) {
            (ENABLE_ENTERPRISE_ATTESTATION, _) => self.enable_enterprise_attestation(env),
            (TOGGLE_ALWAYS_UV, _) => self.toggle_always_uv(env),
            (SET_MIN_PIN_LENGTH, Some(m)) => self.set_min_pin_length(
                env,
                m.new_min_pin_length,
                m.min_pin_length_rp_ids,
                m.force_change_pin,
            ),
            _ => Err(CtapError::InvalidParameter.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_pin_length_params_parse_and_type_check() {
        assert_eq!(MinPinLength::parse(None).unwrap(), MinPinLength::default());
        let v = Value::int_map(vec![
            (0x01, Value::Unsigned(6)),
            (0x02, Value::Array(vec![Value::text("example.com")])),
            (0x03, Value::Bool(true)),
            (0x09, Value::Null),
        ]);
        assert_eq!(
            MinPinLength::parse(Some(&v)).unwrap(),
            MinPinLength {
                new_min_pin_length: Some(6),
                min_pin_length_rp_ids: Some(vec!["example.com".into()]),
                force_change_pin: true,
            }
        );
        for bad in [
            Value::int_map(vec![(0x01, Value::text("6"))]),
            Value::int_map(vec![(0x02, Value::Array(vec![Value::Unsigned(1)]))]),
            Value::int_map(vec![(0x02, Value::text("example.com"))]),
            Value::int_map(vec![(0x03, Value::Unsigned(1))]),
            Value::Null,
        ] {
            assert_eq!(
                MinPinLength::parse(Some(&bad)).unwrap_err(),
                CtapError::CborUnexpectedType,
                "{bad:?}"
            );
        }
    }
}
