//! authenticatorSelection (CTAP 2.1 §6.9): the platform asks every
//! attached authenticator for a touch and uses the one the user picks.
//! No parameters, no state, nothing stored.

use crate::Authenticator;
use crate::env::{Env, Operation, Requester};
use crate::error::Error;
use crate::presence;

impl Authenticator {
    /// §6.9: "If the user presence check succeeds, return CTAP2_OK", else
    /// the presence error (denied 0x27, timeout 0x2F, cancel 0x2D).
    pub(crate) fn selection<E: Env>(&mut self, env: &mut E) -> Result<(), Error> {
        Ok(presence::require(
            env,
            Operation::Select,
            Requester::Device,
            None,
            None,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use crate::env::{Operation, PresenceError};
    use crate::testing::TestEnv;
    use crate::{Authenticator, Config};

    #[test]
    fn touch_selects_and_refusals_map_to_presence_errors() {
        let mut env = TestEnv::new(0);
        let mut a = Authenticator::new(Config::default());
        a.power_up(&mut env);
        assert_eq!(a.process_cbor(&mut env, &[0x0B]), [0x00]);
        env.presence.push(Err(PresenceError::Denied));
        assert_eq!(a.process_cbor(&mut env, &[0x0B]), [0x27]);
        env.presence.push(Err(PresenceError::Timeout));
        assert_eq!(a.process_cbor(&mut env, &[0x0B]), [0x2F]);
        env.presence.push(Err(PresenceError::Cancelled));
        assert_eq!(a.process_cbor(&mut env, &[0x0B]), [0x2D]);
        let log = env.presence.log();
        assert_eq!(log.len(), 4);
        assert!(
            log.iter()
                .all(|p| p.operation == Operation::Select && p.rp_id.is_empty())
        );
        // Device-wide: nothing written.
        assert_eq!(env.store.writes(), 0);
    }
}
