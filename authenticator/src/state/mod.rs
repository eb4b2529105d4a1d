//! The authenticator's RAM state between requests, in leaf modules: the
//! getNextAssertion sequence and the management commands' enumerations and
//! large-blob writes. Nothing here is persisted; a power-up drops it all.
//! The PIN/UV state lives with the PIN module ([`crate::pin::PinState`]),
//! the device secrets with [`crate::secrets::SecretsCache`].

mod assertion;
mod management;

pub(crate) use assertion::{AssertionState, NEXT_ASSERTION_TIMEOUT, UserFlags};
pub(crate) use management::{Enumeration, ManagementState};
