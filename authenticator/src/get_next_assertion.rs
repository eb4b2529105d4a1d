//! authenticatorGetNextAssertion (CTAP 2.1 §6.3): the next credential of
//! the last username-less getAssertion, without a new prompt.
//!
//! The state lives in RAM only. It is dropped by any other command, by a
//! power-up, when exhausted, and is refused once more than 30 s have passed
//! since the previous (next)assertion response (§6.3.2 steps 1–3).

use core::time::Duration;
use std::collections::VecDeque;

use crate::Authenticator;
use crate::cbor::Value;
use crate::env::Env;
use crate::error::Error;
use crate::extensions::AssertionExtensions;
use crate::get_assertion::UserFlags;
use crate::record::CredentialRecord;
use crate::status::CtapError;

/// §6.3.2 step 3: "If timer since the last call to
/// authenticatorGetAssertion/authenticatorGetNextAssertion is greater than
/// 30 seconds, discard the current authenticatorGetAssertion state".
pub(crate) const NEXT_ASSERTION_TIMEOUT: Duration = Duration::from_secs(30);

/// What getNextAssertion continues from.
#[derive(Debug)]
pub(crate) struct AssertionState {
    pub(crate) rp_id_hash: [u8; 32],
    pub(crate) client_data_hash: [u8; 32],
    /// What getAssertion established about the user (flags, names).
    pub(crate) user: UserFlags,
    /// The getAssertion's extensions, applied to every credential.
    pub(crate) extensions: AssertionExtensions,
    /// Credentials not yet returned, newest first.
    pub(crate) remaining: VecDeque<CredentialRecord>,
    pub(crate) last_response: Duration,
}

impl Authenticator {
    pub(crate) fn get_next_assertion<E: Env>(&mut self, env: &mut E) -> Result<Value, Error> {
        // Steps 1–2: no state, or nothing left → NOT_ALLOWED.
        let mut state = self.assertion_state.take().ok_or(CtapError::NotAllowed)?;
        // Step 3: the 30 s timer.
        if env.now().saturating_sub(state.last_response) > NEXT_ASSERTION_TIMEOUT {
            return Err(CtapError::NotAllowed.into());
        }
        let found = loop {
            let record = state.remaining.pop_front().ok_or(CtapError::NotAllowed)?;
            if let Some(found) = self.open_record(env, &state.rp_id_hash, record)? {
                break found;
            }
        };
        // Steps 4–5: sign as getAssertion did, with no numberOfCredentials.
        let response = self.assertion_response(
            env,
            &state.rp_id_hash,
            &found,
            &state.client_data_hash,
            state.user,
            &state.extensions,
            None,
        )?;
        state.last_response = env.now();
        if !state.remaining.is_empty() {
            self.assertion_state = Some(state);
        }
        Ok(response)
    }
}
