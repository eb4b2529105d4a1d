//! authenticatorReset (CTAP 2.1 §6.6): back to factory state, only within
//! 10 s of power-up (process start or USB/IP attach) and with a touch.
//!
//! Wiped: every discoverable credential record, the device secrets (the
//! key that wraps credential IDs, so old non-discoverable IDs stop opening)
//! with the wrap keys imported from backups,
//! the large-blob array, and the PIN with its retries, tokens and the
//! device configuration (alwaysUv, ep, minPINLength; the PIN module's
//! [`Authenticator::reset_pin_state`]).
//!
//! Kept: the signature counter ceiling — a counter must never go
//! backwards, and an RP that saw value N from an old credential must not
//! see a new one start below it as if cloned — and the attestation key and
//! certificate from `softkey init` (`device/attestation*`), which identify
//! the model like a hardware key's batch certificate, not the user.

use core::time::Duration;

use crate::Authenticator;
use crate::cred_mgmt::{ManagementState, store};
use crate::env::{Env, Operation, Requester, Store};
use crate::error::Error;
use crate::presence;
use crate::secrets::{SECRETS_KEY, WRAP_KEYS_KEY};
use crate::status::CtapError;

/// §6.6: reset is refused later than this after power-up.
pub(crate) const RESET_WINDOW: Duration = Duration::from_secs(10);

impl Authenticator {
    pub(crate) fn reset<E: Env>(&mut self, env: &mut E) -> Result<(), Error> {
        // Step 1: only within 10 s of power-up. An authenticator that was
        // never powered up (no `power_up` call) has no window at all.
        let powered_up_at = self.powered_up_at().ok_or(CtapError::NotAllowed)?;
        if env.now().saturating_sub(powered_up_at) > RESET_WINDOW {
            return Err(CtapError::NotAllowed.into());
        }
        // Step 2: presence; denied → OPERATION_DENIED, no answer →
        // USER_ACTION_TIMEOUT.
        presence::require(env, Operation::Reset, Requester::Device, None, None)?;
        // RAM state of every sequence goes first.
        self.assertion_state = None;
        self.management = ManagementState::default();
        // The store has no multi-key transaction, so the order matters if
        // we crash half-way: credentials and the key that opens them go
        // before the PIN, so an interrupted reset never leaves credentials
        // reachable without the PIN. Running reset again finishes the job.
        for key in store::all_keys(env.store())? {
            env.store().delete(&key)?;
        }
        env.store().delete(SECRETS_KEY)?;
        env.store().delete(WRAP_KEYS_KEY)?;
        self.forget_secrets();
        self.reset_large_blobs(env)?;
        self.reset_pin_state(env)?;
        Ok(())
    }
}
