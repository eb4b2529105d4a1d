//! Request pieces shared by makeCredential and getAssertion (CTAP 2.1
//! §6.1.1, §6.2.1): clientDataHash, credential descriptor lists, options,
//! and the pinUvAuthParam/pinUvAuthProtocol steps (§6.1.2 steps 1–2 and 11,
//! §6.2.2 steps 1–2 and 6).

use crate::Authenticator;
use crate::cbor::Value;
use crate::cbor::fields::{self, Fields, optional, required};
use crate::env::{Env, Operation, Requester};
use crate::error::Error;
use crate::pin::{Permission, PinProtocol};
use crate::presence;
use crate::status::CtapError;
/// WebAuthn `PublicKeyCredentialType` "public-key", the only one we handle.
pub(crate) const PUBLIC_KEY: &str = "public-key";

pub(crate) fn client_data_hash(value: &Value) -> Result<[u8; 32], CtapError> {
    fields::bytes(value)?
        .try_into()
        .map_err(|_| CtapError::InvalidLength)
}

/// The IDs of a PublicKeyCredentialDescriptor list (excludeList, allowList).
/// Every entry must be well-formed; entries of types other than
/// "public-key" are skipped (WebAuthn §5.8.3: ignore unknown types).
pub(crate) fn descriptor_ids(value: &Value) -> Result<Vec<&[u8]>, CtapError> {
    let mut ids = Vec::new();
    for entry in fields::array(value)? {
        let f = Fields::of(entry)?;
        let kind = fields::text(required(f.text("type"))?)?;
        let id = fields::bytes(required(f.text("id"))?)?;
        optional(f.text("transports"), fields::array)?;
        if kind == PUBLIC_KEY {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// The options map; unknown keys are ignored (§6.1.2 step 5: "Treat any
/// option keys that are not understood as absent"), known ones must be bool.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Options {
    pub(crate) rk: Option<bool>,
    pub(crate) up: Option<bool>,
    pub(crate) uv: Option<bool>,
}

impl Options {
    pub(crate) fn parse(value: Option<&Value>) -> Result<Self, CtapError> {
        let Some(value) = value else {
            return Ok(Options::default());
        };
        let f = Fields::of(value)?;
        Ok(Options {
            rk: optional(f.text("rk"), fields::boolean)?,
            up: optional(f.text("up"), fields::boolean)?,
            uv: optional(f.text("uv"), fields::boolean)?,
        })
    }
}

/// pinUvAuthParam and pinUvAuthProtocol as sent.
#[derive(Debug, Default, Clone)]
pub(crate) struct PinUvAuth<'a> {
    pub(crate) param: Option<&'a [u8]>,
    pub(crate) protocol: Option<u64>,
}

impl<'a> PinUvAuth<'a> {
    pub(crate) fn parse(
        param: Option<&'a Value>,
        protocol: Option<&'a Value>,
    ) -> Result<Self, CtapError> {
        Ok(PinUvAuth {
            param: optional(param, fields::bytes)?,
            protocol: optional(protocol, fields::unsigned)?,
        })
    }

    /// Steps 1–2 of §6.1.2 and §6.2.2.
    ///
    /// Step 1: a zero-length pinUvAuthParam is a platform asking the user to
    /// pick this authenticator (Windows does this): collect presence, then
    /// answer CTAP2_ERR_PIN_INVALID if the key is protected (a PIN set, or
    /// built-in UV), else CTAP2_ERR_PIN_NOT_SET.
    /// Step 2: otherwise a pinUvAuthParam needs a protocol
    /// (CTAP2_ERR_MISSING_PARAMETER) that we support
    /// (CTAP1_ERR_INVALID_PARAMETER).
    pub(crate) fn check_steps_1_2<E: Env>(
        &self,
        env: &mut E,
        rp_id: &str,
        protected: bool,
    ) -> Result<(), CtapError> {
        match self.param {
            None => Ok(()),
            Some([]) => {
                presence::require(env, Operation::Select, Requester::Rp(rp_id), None, None)?;
                Err(if protected {
                    CtapError::PinInvalid
                } else {
                    CtapError::PinNotSet
                })
            }
            Some(_) => {
                let protocol = self.protocol.ok_or(CtapError::MissingParameter)?;
                PinProtocol::from_number(protocol).map(|_| ())
            }
        }
    }

    pub(crate) fn is_present(&self) -> bool {
        self.param.is_some()
    }
}

impl Authenticator {
    /// Step 11 of §6.1.2 / step 6 of §6.2.2: verifies a present
    /// pinUvAuthParam over clientDataHash for `permission` and the request's
    /// RP. `Ok(true)`: user verified; `Ok(false)`: no pinUvAuthParam.
    pub(crate) fn verify_request_pin_uv<E: Env>(
        &mut self,
        env: &mut E,
        pin_uv: &PinUvAuth<'_>,
        client_data_hash: &[u8; 32],
        permission: Permission,
        rp_id: &str,
    ) -> Result<bool, Error> {
        let Some(param) = pin_uv.param else {
            return Ok(false);
        };
        let protocol = pin_uv.protocol.ok_or(CtapError::MissingParameter)?;
        self.verify_pin_uv_auth_param(
            env,
            protocol,
            param,
            client_data_hash,
            permission,
            Some(rp_id),
        )?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(kind: &str, id: &[u8]) -> Value {
        Value::text_map(vec![("id", Value::bytes(id)), ("type", Value::text(kind))])
    }

    #[test]
    fn descriptor_lists_skip_unknown_types_but_not_malformed_entries() {
        let list = Value::Array(vec![
            descriptor("public-key", b"a"),
            descriptor("future", b"b"),
        ]);
        assert_eq!(descriptor_ids(&list).unwrap(), vec![&b"a"[..]]);
        let missing_id = Value::Array(vec![Value::text_map(vec![(
            "type",
            Value::text("public-key"),
        )])]);
        assert_eq!(
            descriptor_ids(&missing_id).unwrap_err(),
            CtapError::MissingParameter
        );
        let wrong = Value::Array(vec![Value::text_map(vec![
            ("id", Value::text("a")),
            ("type", Value::text("public-key")),
        ])]);
        assert_eq!(
            descriptor_ids(&wrong).unwrap_err(),
            CtapError::CborUnexpectedType
        );
        assert_eq!(
            descriptor_ids(&Value::Null).unwrap_err(),
            CtapError::CborUnexpectedType
        );
    }

    #[test]
    fn options_ignore_unknown_keys_and_type_check_known_ones() {
        let v = Value::text_map(vec![("rk", Value::Bool(true)), ("zz", Value::int(3))]);
        let o = Options::parse(Some(&v)).unwrap();
        assert_eq!((o.rk, o.up, o.uv), (Some(true), None, None));
        let bad = Value::text_map(vec![("up", Value::int(0))]);
        assert_eq!(
            Options::parse(Some(&bad)).unwrap_err(),
            CtapError::CborUnexpectedType
        );
    }

    #[test]
    fn client_data_hash_must_be_32_bytes() {
        assert!(client_data_hash(&Value::bytes(&[0; 32])).is_ok());
        assert_eq!(
            client_data_hash(&Value::bytes(&[0; 31])).unwrap_err(),
            CtapError::InvalidLength
        );
        assert_eq!(
            client_data_hash(&Value::text("x")).unwrap_err(),
            CtapError::CborUnexpectedType
        );
    }
}
