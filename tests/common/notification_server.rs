//! A private session bus (`dbus-daemon`) and a fake desktop notification
//! server on it (org.freedesktop.Notifications, Desktop Notifications
//! Specification 1.2) that records what it was asked to show and lets a test
//! click its buttons the way a person would.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use zbus::blocking::{Connection, connection};
use zbus::object_server::SignalEmitter;
use zbus::zvariant::OwnedValue;

use super::TempDir;

pub const DBUS_DAEMON: &str = "dbus-daemon";
const PATH: &str = "/org/freedesktop/Notifications";
const INTERFACE: &str = "org.freedesktop.Notifications";

/// A `dbus-daemon` of our own, killed on drop. Its configuration lists no
/// service directories, so nothing on this machine can be auto-started on
/// it: a test that wants a notification server must start one.
pub struct SessionBus {
    child: Child,
    pub address: String,
    pub dir: TempDir,
}

impl SessionBus {
    /// Tests that call this are `#[ignore]`d where `dbus-daemon` is not
    /// installed (build.rs).
    pub fn start(name: &str) -> Self {
        let dir = TempDir::new(name);
        let socket = dir.path().join("bus");
        let config = dir.path().join("session.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                socket.display()
            ),
        )
        .unwrap();
        let mut child = Command::new(DBUS_DAEMON)
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // Its only chatter is about fd limits when run as root.
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {DBUS_DAEMON}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line.trim().to_owned();
        assert!(
            !address.is_empty(),
            "dbus-daemon printed no address (run `dbus-daemon --config-file={}` to see why)",
            config.display()
        );
        Self {
            child,
            address,
            dir,
        }
    }

    /// The environment that points a process at this bus. (`Server` gives
    /// each server its own `$XDG_RUNTIME_DIR`, so zbus's fallback to
    /// `$XDG_RUNTIME_DIR/bus` cannot reach the user's own bus either.)
    pub fn env(&self) -> Vec<(String, String)> {
        vec![("DBUS_SESSION_BUS_ADDRESS".into(), self.address.clone())]
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `Notify` call as the server received it.
#[derive(Debug, Clone)]
pub struct Shown {
    pub id: u32,
    pub app_name: String,
    pub summary: String,
    pub body: String,
    pub actions: Vec<String>,
    pub urgency: Option<u8>,
    pub expire_timeout: i32,
}

#[derive(Debug, Default)]
struct Record {
    shown: Vec<Shown>,
    /// Ids passed to `CloseNotification`, in order.
    closed: Vec<u32>,
}

struct Notifications {
    record: Arc<Mutex<Record>>,
    capabilities: Vec<String>,
    next_id: u32,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Notifications {
    fn get_capabilities(&self) -> Vec<String> {
        self.capabilities.clone()
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "fake-notifyd".into(),
            "softkey tests".into(),
            "1.0".into(),
            "1.2".into(),
        )
    }

    #[allow(clippy::too_many_arguments)] // the spec's signature
    fn notify(
        &mut self,
        app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        hints: HashMap<String, OwnedValue>,
        expire_timeout: i32,
    ) -> u32 {
        self.next_id += 1;
        let urgency = hints.get("urgency").and_then(|v| u8::try_from(v).ok());
        self.record.lock().unwrap().shown.push(Shown {
            id: self.next_id,
            app_name,
            summary,
            body,
            actions,
            urgency,
            expire_timeout,
        });
        self.next_id
    }

    async fn close_notification(
        &self,
        id: u32,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> zbus::fdo::Result<()> {
        self.record.lock().unwrap().closed.push(id);
        // Spec: reason 3, "closed by a call to CloseNotification".
        Self::notification_closed(&emitter, id, 3).await?;
        Ok(())
    }

    #[zbus(signal)]
    async fn notification_closed(
        emitter: &SignalEmitter<'_>,
        id: u32,
        reason: u32,
    ) -> zbus::Result<()>;
}

/// The fake server, connected to a [`SessionBus`] as
/// `org.freedesktop.Notifications`.
pub struct NotificationServer {
    conn: Connection,
    record: Arc<Mutex<Record>>,
}

impl NotificationServer {
    /// A server that shows action buttons (capabilities "actions", "body").
    pub fn start(bus: &SessionBus) -> Self {
        Self::with_capabilities(bus, &["actions", "body"])
    }

    pub fn with_capabilities(bus: &SessionBus, capabilities: &[&str]) -> Self {
        let record = Arc::new(Mutex::new(Record::default()));
        let server = Notifications {
            record: record.clone(),
            capabilities: capabilities.iter().map(|c| (*c).to_owned()).collect(),
            next_id: 0,
        };
        let conn = connection::Builder::address(bus.address.as_str())
            .unwrap()
            .serve_at(PATH, server)
            .unwrap()
            .name(INTERFACE)
            .unwrap()
            .build()
            .unwrap();
        Self { conn, record }
    }

    pub fn shown(&self) -> Vec<Shown> {
        self.record.lock().unwrap().shown.clone()
    }

    pub fn closed(&self) -> Vec<u32> {
        self.record.lock().unwrap().closed.clone()
    }

    /// Waits until the `n`th notification (from 1) is shown.
    pub fn wait_shown(&self, n: usize, timeout: Duration) -> Option<Shown> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(shown) = self.shown().get(n - 1) {
                return Some(shown.clone());
            }
            thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Waits until `CloseNotification(id)` has been called.
    pub fn wait_closed(&self, id: u32, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.closed().contains(&id) {
                return true;
            }
            thread::sleep(Duration::from_millis(5));
        }
        false
    }

    /// A person clicks the button `action` ("approve" or "deny"): like
    /// real servers, the notification then closes as dismissed (reason 2).
    pub fn click(&self, id: u32, action: &str) {
        self.invoke(id, action);
        self.emit("NotificationClosed", &(id, 2u32));
    }

    /// Only `ActionInvoked(id, action)`, as for a click on the body
    /// ("default") of a notification that stays open.
    pub fn invoke(&self, id: u32, action: &str) {
        self.emit("ActionInvoked", &(id, action));
    }

    /// A person closes the notification without choosing (reason 2).
    pub fn dismiss(&self, id: u32) {
        self.emit("NotificationClosed", &(id, 2u32));
    }

    fn emit<B>(&self, member: &str, body: &B)
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.conn
            .emit_signal(None::<&str>, PATH, INTERFACE, member, body)
            .unwrap();
    }
}
