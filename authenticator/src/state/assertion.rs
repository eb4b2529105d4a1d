//! What a getAssertion sequence keeps in RAM for authenticatorGetNextAssertion
//! (CTAP 2.1 §6.2.2 step 13, §6.3): the credentials not yet returned and what
//! the first response established about the user. A leaf: the commands that
//! fill and drain it import it, it imports no command.

use core::time::Duration;

use crate::credential_index::NewestFirst;
use crate::extensions::AssertionExtensions;

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
    /// The walk over the RP's credentials, after the last one returned.
    pub(crate) walk: NewestFirst,
    /// How many of the numberOfCredentials are still to come.
    pub(crate) left: usize,
    pub(crate) last_response: Duration,
}

/// What the assertion responses of one getAssertion sequence say about
/// the user.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UserFlags {
    /// Presence was collected: the UP flag.
    pub(crate) present: bool,
    /// A pinUvAuthParam verified: the UV flag.
    pub(crate) verified: bool,
    /// Whether user name and displayName may be returned.
    pub(crate) show_names: bool,
}
