//! Built-in user verification (CTAP 2.1 §6.5.2 performBuiltInUv and the
//! uvRetries counter), for a key configured with it: a test-lab key with
//! the W3C/CDP `hasUserVerification`, which verifies as `isUserVerified`
//! says. A served softkey key has none; its user verification is the PIN.
//!
//! Store record `device/uv-retries`: one byte, uvRetries; absent means the
//! maximum. As with pinRetries (SECURITY.md "The CTAP PIN"), a failed
//! verification is paid for with a durable write before it is reported.
//! Each request makes one attempt (`internalRetry` covers a single gesture):
//! the platform asks again if it wants another.

use crate::env::{Env, PresenceError, PresenceRequest, Store, UserPresence};
use crate::error::Error;
use crate::status::CtapError;
use crate::store_keys::UV_RETRIES;

/// uvRetries after a successful verification or a correct PIN. §6.5.2
/// leaves the maximum to the authenticator; eight, as pinRetries.
pub(crate) const MAX_UV_RETRIES: u8 = 8;

/// Why performBuiltInUv did not verify the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UvFailure {
    /// uvRetries is zero: built-in UV is blocked until a correct PIN.
    Blocked,
    /// The user was present but not matched; uvRetries was decremented and
    /// is still above zero.
    NotMatched,
    /// The gesture itself ended: refused, timed out or cancelled.
    Presence(PresenceError),
}

impl UvFailure {
    /// The status getPinUvAuthTokenUsingUvWithPermissions answers
    /// (§6.5.5.7.3): CTAP2_ERR_UV_BLOCKED, CTAP2_ERR_UV_INVALID, or the
    /// gesture's own status.
    pub(crate) fn token_status(self) -> CtapError {
        match self {
            UvFailure::Blocked => CtapError::UvBlocked,
            UvFailure::NotMatched => CtapError::UvInvalid,
            UvFailure::Presence(e) => e.into(),
        }
    }

    /// The status makeCredential and getAssertion answer with the "uv"
    /// option (§6.1.2 step 11.2, §6.2.2 step 6.2): as for a token, except
    /// that a blocked key with a PIN says CTAP2_ERR_PUAT_REQUIRED, which
    /// sends the platform to the PIN (as python-fido2 and Chromium do on
    /// it).
    pub(crate) fn request_status(self, pin_set: bool) -> CtapError {
        match self {
            UvFailure::Blocked if pin_set => CtapError::PuatRequired,
            other => other.token_status(),
        }
    }
}

/// uvRetries now.
pub(crate) fn retries<S: Store>(store: &S) -> Result<u8, Error> {
    match store.get(UV_RETRIES)? {
        None => Ok(MAX_UV_RETRIES),
        Some(raw) => match raw.as_slice() {
            [n] if *n <= MAX_UV_RETRIES => Ok(*n),
            // A corrupt counter must not read as a full one.
            _ => Err(CtapError::Other.into()),
        },
    }
}

/// Restores uvRetries to the maximum (a verified user, or a correct PIN:
/// §6.5.5.7.2 resets both counters).
pub(crate) fn restore<S: Store>(store: &mut S) -> Result<(), Error> {
    if retries(store)? != MAX_UV_RETRIES {
        store.put(UV_RETRIES, &[MAX_UV_RETRIES])?;
    }
    Ok(())
}

/// performBuiltInUv with one attempt: refuses at once when blocked, asks
/// for the gesture, and keeps the count of failures durably.
pub(crate) fn perform<E: Env>(
    env: &mut E,
    request: &PresenceRequest<'_>,
) -> Result<Result<(), UvFailure>, Error> {
    let left = retries(env.store())?;
    if left == 0 {
        return Ok(Err(UvFailure::Blocked));
    }
    match env.presence().verify(request) {
        Err(e) => Ok(Err(UvFailure::Presence(e))),
        Ok(true) => {
            restore(env.store())?;
            Ok(Ok(()))
        }
        Ok(false) => {
            let left = left.saturating_sub(1);
            env.store().put(UV_RETRIES, &[left])?;
            Ok(Err(if left == 0 {
                UvFailure::Blocked
            } else {
                UvFailure::NotMatched
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{Operation, Requester};
    use crate::testing::TestEnv;

    const REQUEST: PresenceRequest<'static> = PresenceRequest {
        operation: Operation::SignIn,
        requester: Requester::Rp("example.com"),
        user_name: None,
        user_display_name: None,
    };

    #[test]
    fn failures_count_down_to_blocked_and_a_match_restores() {
        let mut env = TestEnv::new(1);
        env.presence.set_verified(false);
        for left in (1..MAX_UV_RETRIES).rev() {
            assert_eq!(
                perform(&mut env, &REQUEST).unwrap(),
                Err(UvFailure::NotMatched)
            );
            assert_eq!(retries(&env.store).unwrap(), left);
        }
        assert_eq!(
            perform(&mut env, &REQUEST).unwrap(),
            Err(UvFailure::Blocked)
        );
        // Blocked: no gesture is asked for, even from the right person.
        env.presence.set_verified(true);
        env.presence.clear_log();
        assert_eq!(
            perform(&mut env, &REQUEST).unwrap(),
            Err(UvFailure::Blocked)
        );
        assert!(env.presence.log().is_empty());
        restore(&mut env.store).unwrap();
        assert_eq!(perform(&mut env, &REQUEST).unwrap(), Ok(()));
        assert_eq!(retries(&env.store).unwrap(), MAX_UV_RETRIES);
    }

    #[test]
    fn a_refused_gesture_costs_no_retry() {
        let mut env = TestEnv::new(2);
        env.presence.set_verified(true);
        env.presence.push(Err(PresenceError::Denied));
        assert_eq!(
            perform(&mut env, &REQUEST).unwrap(),
            Err(UvFailure::Presence(PresenceError::Denied))
        );
        assert_eq!(retries(&env.store).unwrap(), MAX_UV_RETRIES);
    }

    #[test]
    fn statuses_follow_the_command() {
        assert_eq!(UvFailure::Blocked.token_status(), CtapError::UvBlocked);
        assert_eq!(UvFailure::NotMatched.token_status(), CtapError::UvInvalid);
        assert_eq!(
            UvFailure::Blocked.request_status(true),
            CtapError::PuatRequired
        );
        assert_eq!(
            UvFailure::Blocked.request_status(false),
            CtapError::UvBlocked
        );
        assert_eq!(
            UvFailure::Presence(PresenceError::Timeout).request_status(true),
            CtapError::UserActionTimeout
        );
    }
}
