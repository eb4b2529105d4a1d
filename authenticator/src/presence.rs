//! Asking the user (CTAP 2.1 §6.1.2 step 14, §6.2.2 step 9): one call that
//! builds the [`PresenceRequest`] naming what is asked for, and maps the
//! answer to its CTAP status (denied 0x27, timeout 0x2F, cancel 0x2D).

use crate::env::{Env, Operation, PresenceRequest, Requester, UserPresence};
use crate::status::CtapError;

pub(crate) fn require<E: Env>(
    env: &mut E,
    operation: Operation,
    requester: Requester<'_>,
    user_name: Option<&str>,
    user_display_name: Option<&str>,
) -> Result<(), CtapError> {
    let request = PresenceRequest {
        operation,
        requester,
        user_name,
        user_display_name,
    };
    env.presence().check(&request).map_err(CtapError::from)
}
