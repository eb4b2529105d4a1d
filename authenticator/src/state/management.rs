//! RAM state of the stateful management commands: the credential
//! management enumerations (CTAP 2.1 §6.8.3 enumerateRPsGetNextRP, §6.8.4
//! enumerateCredentialsGetNextCredential) and a large-blob array being
//! written in fragments (§6.10.2).
//!
//! Nothing here is ever persisted. A power-up drops all of it; any command
//! other than the matching "next" subcommand drops an enumeration.

use core::time::Duration;
use std::collections::VecDeque;

use crate::large_blob_array::PendingWrite;

/// How long an enumeration stays usable after its last response. CTAP 2.1
/// gives getNextAssertion a 30 s timer (§6.3.2 step 3); we hold the
/// credential management "next" commands to the same rule.
pub(crate) const ENUMERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything the management commands keep between requests.
#[derive(Debug, Default)]
pub(crate) struct ManagementState {
    pub(crate) enumeration: Option<Enumeration>,
    pub(crate) large_blob_write: Option<PendingWrite>,
}

/// What the next GetNextRP / GetNextCredential continues from.
#[derive(Debug)]
pub(crate) enum Enumeration {
    /// RPs not yet returned: (rp id, rp name).
    Rps {
        remaining: VecDeque<(String, Option<String>)>,
        last_response: Duration,
    },
    /// Credential IDs of one RP not yet returned.
    Credentials {
        rp_id_hash: [u8; 32],
        remaining: VecDeque<Vec<u8>>,
        last_response: Duration,
    },
}

impl Enumeration {
    /// Whether the 30 s timer has run out at `now`.
    pub(crate) fn expired(&self, now: Duration) -> bool {
        let last = match self {
            Enumeration::Rps { last_response, .. }
            | Enumeration::Credentials { last_response, .. } => *last_response,
        };
        now.saturating_sub(last) > ENUMERATION_TIMEOUT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_expires_strictly_after_thirty_seconds() {
        let e = Enumeration::Rps {
            remaining: VecDeque::new(),
            last_response: Duration::from_secs(5),
        };
        assert!(!e.expired(Duration::from_secs(35)));
        assert!(e.expired(Duration::from_secs(36)));
        // A clock before the last response (cannot happen) is not expiry.
        assert!(!e.expired(Duration::ZERO));
    }
}
