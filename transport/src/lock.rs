//! Mutex locking that outlives a panicked holder: a panic in one handler or
//! connection must not take the whole server down with it.

use std::sync::{Mutex, MutexGuard};

pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take the server down with it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}
