//! CTAP 2.1 and CTAP1/U2F authenticator logic with no I/O: it reaches the
//! world only through [`env::Env`].

pub mod env;

pub use env::{Env, Operation, PresenceError, PresenceRequest, Store, StoreError, UserPresence};
