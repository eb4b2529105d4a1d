//! The devices a server exports, by bus id. Each has its own descriptors,
//! handler, WINK signal and attach state, so one server can be several
//! security keys at once: a host lists them all (OP_REQ_DEVLIST) and imports
//! each by its bus id, as it would the devices of a real USB/IP server
//! (Linux `Documentation/usb/usbip_protocol.rst`). Devices come and go at
//! run time; removing one that a host has imported closes that connection,
//! which the host sees as the device unplugged.
//!
//! A leaf below `registry`: an export knows nothing of connections beyond
//! the id of the one that holds it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::codec::DeviceRecord;
use super::descriptors::DeviceConfig;
use crate::handler::MessageHandler;
use crate::lock::lock;
use crate::wink::WinkSignal;

/// How long an IMPORT waits for a detaching client's connection to end
/// before it is refused. `usbip detach` closes the socket and an immediate
/// `usbip attach` can arrive before our reader has seen the EOF; the host
/// must not be refused for that race (attach works the first time).
const DETACH_GRACE: Duration = Duration::from_millis(500);

/// Why a device could not be exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportError {
    /// Another exported device has this bus id.
    BusIdTaken(String),
    /// The configuration is not one a host accepts.
    InvalidDevice(&'static str),
    /// The server is stopping.
    Stopping,
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BusIdTaken(id) => write!(f, "bus id {id} is already exported"),
            Self::InvalidDevice(why) => write!(f, "invalid device: {why}"),
            Self::Stopping => f.write_str("the server is stopping"),
        }
    }
}

impl std::error::Error for ExportError {}

/// One exported device.
pub(crate) struct Export {
    pub(crate) device: DeviceConfig,
    pub(crate) record: DeviceRecord,
    pub(crate) handler: Arc<Mutex<dyn MessageHandler>>,
    /// CTAPHID_WINK requests for this device not yet shown.
    pub(crate) wink: WinkSignal,
    /// The thread that shows them, if the handler has a winker.
    wink_thread: Mutex<Option<JoinHandle<()>>>,
    /// The connection that imported it.
    attached: Mutex<Option<u64>>,
    /// Signalled when it is detached.
    detached: Condvar,
    /// Set when it is no longer exported: no new import gets it.
    removed: AtomicBool,
}

impl fmt::Debug for Export {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Export")
            .field("bus_id", &self.device.bus_id)
            .field("attached", &*lock(&self.attached))
            .finish_non_exhaustive()
    }
}

impl Export {
    pub(crate) fn new<H: MessageHandler>(device: DeviceConfig, handler: H) -> Self {
        Export {
            record: device.record(),
            device,
            handler: Arc::new(Mutex::new(handler)),
            wink: WinkSignal::default(),
            wink_thread: Mutex::new(None),
            attached: Mutex::new(None),
            detached: Condvar::new(),
            removed: AtomicBool::new(false),
        }
    }

    /// Starts the thread that shows this device's winks, if its handler
    /// can show them.
    pub(crate) fn start_winker(self: &Arc<Self>) -> std::io::Result<()> {
        let Some(show) = lock(&self.handler).winker() else {
            return Ok(());
        };
        let export = Arc::clone(self);
        let thread = std::thread::Builder::new()
            .name(format!("usbip-wink-{}", self.device.bus_id))
            .spawn(move || {
                while export.wink.next() {
                    show();
                }
            })?;
        *lock(&self.wink_thread) = Some(thread);
        Ok(())
    }

    /// Attaches the device to connection `id` unless it was removed or
    /// another connection holds it for longer than [`DETACH_GRACE`].
    pub(crate) fn try_attach(self: &Arc<Self>, id: u64) -> Option<AttachGuard> {
        let attached = lock(&self.attached);
        let (mut attached, _) = self
            .detached
            .wait_timeout_while(attached, DETACH_GRACE, |a| a.is_some())
            .unwrap_or_else(|e| e.into_inner());
        if self.removed.load(Ordering::SeqCst) {
            tracing::debug!(id, bus_id = %self.device.bus_id, "import refused: device removed");
            return None;
        }
        match *attached {
            Some(other) => {
                tracing::debug!(id, other, "import refused: device attached elsewhere");
                None
            }
            None => {
                *attached = Some(id);
                Some(AttachGuard {
                    export: Arc::clone(self),
                    id,
                })
            }
        }
    }

    /// The connection that imported it, if one has.
    pub(crate) fn attached_connection(&self) -> Option<u64> {
        *lock(&self.attached)
    }

    /// Ends the export: no new import, no more winks (the wink thread is
    /// joined). Returns the connection that holds the device, for the
    /// caller to close.
    pub(crate) fn end(&self) -> Option<u64> {
        self.removed.store(true, Ordering::SeqCst);
        self.wink.stop();
        if let Some(thread) = lock(&self.wink_thread).take() {
            let _ = thread.join();
        }
        *lock(&self.attached)
    }
}

/// Marks a device attached by one connection until dropped.
#[derive(Debug)]
pub(crate) struct AttachGuard {
    export: Arc<Export>,
    id: u64,
}

impl Drop for AttachGuard {
    fn drop(&mut self) {
        let mut attached = lock(&self.export.attached);
        if *attached == Some(self.id) {
            *attached = None;
            self.export.detached.notify_all();
            tracing::debug!(id = self.id, bus_id = %self.export.device.bus_id, "device detached");
        }
    }
}

/// The exported devices, by bus id (DEVLIST lists them in this order).
#[derive(Debug, Default)]
pub(crate) struct ExportTable {
    by_bus_id: Mutex<BTreeMap<String, Arc<Export>>>,
}

impl ExportTable {
    pub(crate) fn insert(&self, export: Arc<Export>) -> Result<(), ExportError> {
        let mut table = lock(&self.by_bus_id);
        let bus_id = export.device.bus_id.clone();
        if table.contains_key(&bus_id) {
            return Err(ExportError::BusIdTaken(bus_id));
        }
        table.insert(bus_id, export);
        Ok(())
    }

    pub(crate) fn remove(&self, bus_id: &str) -> Option<Arc<Export>> {
        lock(&self.by_bus_id).remove(bus_id)
    }

    /// The device an OP_REQ_IMPORT names by its bus id bytes.
    pub(crate) fn get(&self, bus_id: &[u8]) -> Option<Arc<Export>> {
        let bus_id = std::str::from_utf8(bus_id).ok()?;
        lock(&self.by_bus_id).get(bus_id).cloned()
    }

    pub(crate) fn records(&self) -> Vec<DeviceRecord> {
        lock(&self.by_bus_id)
            .values()
            .map(|e| e.record.clone())
            .collect()
    }

    pub(crate) fn bus_ids(&self) -> Vec<String> {
        lock(&self.by_bus_id).keys().cloned().collect()
    }

    /// Removes every device (a stopping server).
    pub(crate) fn drain_all(&self) -> Vec<Arc<Export>> {
        std::mem::take(&mut *lock(&self.by_bus_id))
            .into_values()
            .collect()
    }
}
