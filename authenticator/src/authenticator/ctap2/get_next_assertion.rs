//! authenticatorGetNextAssertion (CTAP 2.1 §6.3): the next credential of
//! the last username-less getAssertion, without a new prompt.
//!
//! The state lives in RAM only. It is dropped by any other command, by a
//! power-up, when exhausted, and is refused once more than 30 s have passed
//! since the previous (next)assertion response (§6.3.2 steps 1–3).

use crate::Authenticator;
use crate::cbor::Value;
use crate::env::Env;
use crate::error::Error;
use crate::lookup;
use crate::state::NEXT_ASSERTION_TIMEOUT;
use crate::status::CtapError;

impl Authenticator {
    pub(crate) fn get_next_assertion<E: Env>(&mut self, env: &mut E) -> Result<Value, Error> {
        // Steps 1–2: no state, or nothing left → NOT_ALLOWED.
        let mut state = self.assertion_state.take().ok_or(CtapError::NotAllowed)?;
        // Step 3: the 30 s timer.
        if env.now().saturating_sub(state.last_response) > NEXT_ASSERTION_TIMEOUT {
            return Err(CtapError::NotAllowed.into());
        }
        // Step 2: "If credentialCounter is equal to or greater than
        // numberOfCredentials, return CTAP2_ERR_NOT_ALLOWED."
        state.left = state.left.checked_sub(1).ok_or(CtapError::NotAllowed)?;
        let found = loop {
            let record = state.walk.next(env.store())?.ok_or(CtapError::NotAllowed)?;
            let keyring = self.secrets.keyring(env)?;
            if let Some(found) = lookup::open_record(&keyring, &state.rp_id_hash, record) {
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
        if state.left > 0 {
            self.assertion_state = Some(state);
        }
        Ok(response)
    }
}
