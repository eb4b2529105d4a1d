//! CTAPHID_WINK on its way to the user: off the request thread, merged.
//!
//! A WINK asks the device to show which one it is. It must not wait behind a
//! request that blocks on a prompt, and a flood of WINKs must not queue
//! work: the connection thread only raises a flag here, and one thread per
//! device shows one wink per raise it sees, however many came meanwhile.

use std::sync::{Condvar, Mutex};

use crate::lock::lock;

#[derive(Debug, Default)]
pub(crate) struct WinkSignal {
    /// (a wink is waiting, the server is stopping)
    state: Mutex<(bool, bool)>,
    changed: Condvar,
}

impl WinkSignal {
    /// A WINK arrived; never blocks.
    pub(crate) fn raise(&self) {
        lock(&self.state).0 = true;
        self.changed.notify_one();
    }

    /// Ends [`WinkSignal::next`] for good.
    pub(crate) fn stop(&self) {
        lock(&self.state).1 = true;
        self.changed.notify_all();
    }

    /// Blocks until a wink is waiting (true, and takes it) or the server
    /// stops (false).
    pub(crate) fn next(&self) -> bool {
        let mut state = lock(&self.state);
        loop {
            match *state {
                (_, true) => return false,
                (true, false) => {
                    state.0 = false;
                    return true;
                }
                (false, false) => {
                    state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_raises_make_one_wink_and_stop_ends_the_wait() {
        let w = WinkSignal::default();
        for _ in 0..1000 {
            w.raise();
        }
        assert!(w.next());
        w.stop();
        assert!(!w.next());
    }
}
