//! What every HID backend does around the sans-IO CTAPHID engine: hand the
//! engine's requests to a worker thread that runs the [`MessageHandler`]
//! (which may block for user presence), raise WINKs for the device's wink
//! thread, and give the handler's answer back to the engine.
//!
//! The USB/IP connection (`usbip::connection`) and the uhid device
//! (`uhid::device`) differ only in how a report reaches the host: an
//! interrupt-IN URB or a `UHID_INPUT2` event. Each implements [`Link`] for
//! that, and both run the same [`work`] loop, so a request is answered,
//! refused or cancelled the same way whichever way the key is attached.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::Instant;

use crate::ctaphid::{Dispatch, Event, TransactionId};
use crate::handler::{MessageHandler, Refusal};
use crate::lock::lock;
use crate::wink::WinkSignal;

/// Jobs the worker can have waiting: attach, one request, detach.
pub(crate) const JOB_QUEUE: usize = 4;

/// Work for the worker thread, in the order it must happen.
pub(crate) enum Job {
    /// The host attached the device: a power-up (`MessageHandler::attached`).
    Attached,
    /// The host let go of it (`MessageHandler::detached`).
    Detached,
    /// A complete CBOR or MSG request.
    Request(Dispatch),
}

/// The engine and the way out to the host, under the one lock that the
/// reader thread and the worker share (so reports leave in the order the
/// engine made them).
pub(crate) trait Link {
    /// Gives the handler's answer to the engine and sends what it produced.
    fn complete(&mut self, id: TransactionId, response: &[u8]);
}

/// Passes one engine event on: a request to the worker, a WINK to the
/// device's wink thread (never the request thread).
pub(crate) fn forward(event: Event, jobs: &SyncSender<Job>, wink: &WinkSignal) {
    match event {
        Event::Request(d) => {
            tracing::debug!(
                cid = d.request.channel,
                kind = ?d.request.kind,
                len = d.request.payload.len(),
                "request to handler"
            );
            // CTAPHID runs one transaction at a time (others get
            // CHANNEL_BUSY), so the queue has room.
            let _ = jobs.send(Job::Request(d));
        }
        Event::Wink => wink.raise(),
    }
}

/// The worker thread: runs the handler and gives its answers to the link.
/// `draining` says the server is stopping: a request not yet begun is then
/// refused as cancelled instead of run.
pub(crate) fn work<L: Link + ?Sized>(
    jobs: &Receiver<Job>,
    link: &Mutex<L>,
    handler: &Mutex<dyn MessageHandler>,
    draining: &dyn Fn() -> bool,
) {
    for job in jobs {
        match job {
            Job::Attached => lock(handler).attached(),
            Job::Detached => lock(handler).detached(),
            Job::Request(d) => {
                let kind = d.request.kind;
                let cid = d.request.channel;
                let response = if d.signals.is_cancelled() || draining() {
                    // Cancelled (or aborted, or the server is stopping)
                    // before it started: never run it.
                    lock(handler).refusal(kind, Refusal::Cancelled)
                } else {
                    let mut h = lock(handler);
                    let started = Instant::now();
                    let r = catch_unwind(AssertUnwindSafe(|| h.handle(d.request, &d.signals)));
                    tracing::debug!(cid, elapsed = ?started.elapsed(), "handler returned");
                    r.unwrap_or_else(|_| {
                        tracing::error!(cid, "handler panicked");
                        h.refusal(kind, Refusal::Failed)
                    })
                };
                lock(link).complete(d.id, &response);
            }
        }
    }
}
