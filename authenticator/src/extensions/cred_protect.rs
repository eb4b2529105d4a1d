//! credProtect (CTAP 2.1 §12.1): the level a credential is created with
//! and when it may be used or even revealed.
//!
//! - 1 userVerificationOptional: always usable;
//! - 2 userVerificationOptionalWithCredentialIDList: without UV only when
//!   the RP names it (allowList / excludeList), never in a username-less
//!   getAssertion;
//! - 3 userVerificationRequired: only with UV, listed or not — without UV
//!   it is invisible, as if it did not exist.

use crate::cbor::Value;
use crate::cbor::fields;
use crate::status::CtapError;

pub(crate) const UV_OPTIONAL: u8 = 1;
pub(crate) const UV_OPTIONAL_WITH_LIST: u8 = 2;
pub(crate) const UV_REQUIRED: u8 = 3;

/// The level of a credential whose request named none. §12.1 lets an
/// authenticator choose its own default. A discoverable credential made
/// while a PIN is set gets userVerificationOptionalWithCredentialIDList: a
/// username-less request without UV — a silent `up=false` probe by any
/// local process among them — does not even learn it exists, while every
/// browser sign-in (which verifies the user when the key has a PIN) and
/// every request naming its credential ID works as before. Chrome asks for
/// this level for discoverable credentials anyway. Without a PIN, UV is
/// impossible, and level 2 would hide the passkey from username-less
/// sign-in altogether, so the default stays userVerificationOptional.
/// Non-discoverable credentials are only ever used by ID: level 1.
pub(crate) fn default_level(discoverable: bool, pin_set: bool) -> u8 {
    if discoverable && pin_set {
        UV_OPTIONAL_WITH_LIST
    } else {
        UV_OPTIONAL
    }
}

/// The makeCredential input: an unsigned level 1–3. Another number is
/// CTAP1_ERR_INVALID_PARAMETER.
pub(crate) fn parse(value: &Value) -> Result<u8, CtapError> {
    match fields::unsigned(value)? {
        n @ 1..=3 => u8::try_from(n).map_err(|_| CtapError::InvalidParameter),
        _ => Err(CtapError::InvalidParameter),
    }
}

/// Whether a credential the request names (allowList, excludeList) counts.
pub(crate) fn visible_when_listed(level: u8, uv: bool) -> bool {
    level < UV_REQUIRED || uv
}

/// Whether a discoverable credential counts in a username-less getAssertion.
pub(crate) fn visible_unlisted(level: u8, uv: bool) -> bool {
    level == UV_OPTIONAL || uv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_and_visibility_matrix() {
        assert_eq!(parse(&Value::int(2)), Ok(2));
        assert_eq!(parse(&Value::int(0)), Err(CtapError::InvalidParameter));
        assert_eq!(parse(&Value::int(4)), Err(CtapError::InvalidParameter));
        assert_eq!(parse(&Value::int(-1)), Err(CtapError::CborUnexpectedType));
        // (level, uv) → (listed, unlisted)
        let matrix = [
            (1, false, true, true),
            (1, true, true, true),
            (2, false, true, false),
            (2, true, true, true),
            (3, false, false, false),
            (3, true, true, true),
        ];
        for (level, uv, listed, unlisted) in matrix {
            assert_eq!(visible_when_listed(level, uv), listed, "{level} {uv}");
            assert_eq!(visible_unlisted(level, uv), unlisted, "{level} {uv}");
        }
        assert_eq!((UV_OPTIONAL, UV_OPTIONAL_WITH_LIST, UV_REQUIRED), (1, 2, 3));
    }

    #[test]
    fn default_level_hides_discoverable_credentials_once_a_pin_exists() {
        assert_eq!(default_level(true, true), UV_OPTIONAL_WITH_LIST);
        assert_eq!(default_level(true, false), UV_OPTIONAL);
        assert_eq!(default_level(false, true), UV_OPTIONAL);
        assert_eq!(default_level(false, false), UV_OPTIONAL);
    }
}
