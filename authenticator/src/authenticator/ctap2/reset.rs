//! authenticatorReset (CTAP 2.1 §6.6): back to factory state, only within
//! 10 s of power-up (process start or USB/IP attach) and with a touch.
//!
//! What it wipes and what it keeps is the lifetime column of
//! [`crate::store_keys::REGISTRY`]. Wiped: every discoverable credential
//! record, the device secrets (the key that wraps credential IDs, so old
//! non-discoverable IDs stop opening) with the wrap keys imported from
//! backups, the large-blob array, the PIN with its retries, and the device
//! settings (alwaysUv, ep, minPINLength); in RAM, the PIN/UV tokens and key
//! agreement keys.
//!
//! Kept: the signature counter ceiling — a counter must never go
//! backwards, and an RP that saw value N from an old credential must not
//! see a new one start below it as if cloned — and the attestation keys,
//! certificates and settings, which identify the model like a hardware
//! key's batch certificate, not the user.

use core::time::Duration;

use crate::Authenticator;
use crate::env::{Env, Operation, Requester, Store};
use crate::error::Error;
use crate::presence;
use crate::state::ManagementState;
use crate::status::CtapError;
use crate::store_keys;

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
        // One batch, all or nothing (Store::apply): no crash can leave
        // credentials reachable without the PIN that guarded them, or a
        // PIN without the credentials it guarded.
        let batch = store_keys::factory_reset_batch(env.store())?;
        env.store().apply(&batch)?;
        self.secrets.forget();
        self.pin.power_up(env);
        Ok(())
    }
}
