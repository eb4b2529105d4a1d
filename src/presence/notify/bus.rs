//! The client side of the freedesktop Desktop Notifications protocol
//! (`org.freedesktop.Notifications`, Desktop Notifications Specification 1.2,
//! "D-BUS Protocol"): capabilities, showing and closing a notification, and
//! the `ActionInvoked` / `NotificationClosed` signals that answer it.

use std::collections::HashMap;
use std::fmt;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use zbus::blocking::{Connection, Proxy, connection, proxy};
use zbus::proxy::CacheProperties;
use zbus::zvariant::Value;

const DESTINATION: &str = "org.freedesktop.Notifications";
const PATH: &str = "/org/freedesktop/Notifications";
const INTERFACE: &str = "org.freedesktop.Notifications";

/// Long enough for the bus to start an activatable notification daemon;
/// bounded so that a hung daemon cannot freeze the key for good.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Spec "Urgency Levels": 2 is critical, which servers must not expire on
/// their own; we close the notification ourselves when the prompt times out.
const URGENCY_CRITICAL: u8 = 2;
/// Spec `Notify`: an `expire_timeout` of 0 means "never expire".
const NEVER_EXPIRE: i32 = 0;
const APP_NAME: &str = "softkey";
/// An icon from the freedesktop Icon Naming Specification (status icons).
const APP_ICON: &str = "security-high";

/// The action keys we offer; a click on the body itself sends the key
/// "default", which is not among them and is no answer.
pub const APPROVE: &str = "approve";
pub const DENY: &str = "deny";

/// What the notification server told us about one of its notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Spec `ActionInvoked(id, action_key)`: the user clicked an action.
    Action { id: u32, key: String },
    /// Spec `NotificationClosed(id, reason)`.
    Closed { id: u32, reason: CloseReason },
}

/// Spec `NotificationClosed` reasons 1 to 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    Expired,
    Dismissed,
    ClosedByCall,
    Undefined,
}

impl CloseReason {
    fn from_code(code: u32) -> Self {
        match code {
            1 => Self::Expired,
            2 => Self::Dismissed,
            3 => Self::ClosedByCall,
            _ => Self::Undefined,
        }
    }
}

/// Why the notification prompt cannot be used on this session.
#[derive(Debug)]
pub enum SetupError {
    BusUnreachable(zbus::Error),
    ServerMissing(zbus::Error),
    ActionsUnsupported { server: Option<String> },
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BusUnreachable(e) => write!(f, "cannot connect to the session bus: {e}"),
            Self::ServerMissing(e) => write!(f, "nothing answers as {DESTINATION}: {e}"),
            Self::ActionsUnsupported { server: Some(name) } => {
                write!(f, "the notification server {name} has no action buttons")
            }
            Self::ActionsUnsupported { server: None } => {
                f.write_str("the notification server has no action buttons")
            }
        }
    }
}

impl std::error::Error for SetupError {}

/// A connection to the session's notification server.
pub struct NotificationServer {
    proxy: Proxy<'static>,
    events: Receiver<Event>,
    /// Spec capability "body-markup": the body is then parsed as markup,
    /// so text that came from the relying party must be escaped.
    markup: bool,
}

impl fmt::Debug for NotificationServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotificationServer")
            .field("markup", &self.markup)
            .finish_non_exhaustive()
    }
}

impl NotificationServer {
    /// Connects to the session bus (`DBUS_SESSION_BUS_ADDRESS`) and checks
    /// that a notification server is there and can show action buttons.
    pub fn connect() -> Result<Self, SetupError> {
        let conn = connection::Builder::session()
            .map(|builder| builder.method_timeout(CALL_TIMEOUT))
            .and_then(connection::Builder::build)
            .map_err(SetupError::BusUnreachable)?;
        let proxy = notifications_proxy(&conn).map_err(SetupError::BusUnreachable)?;
        // Spec `GetCapabilities`: "actions" means the server shows action
        // buttons; without it nobody could approve.
        let capabilities: Vec<String> = proxy
            .call("GetCapabilities", &())
            .map_err(SetupError::ServerMissing)?;
        if !capabilities.iter().any(|c| c == "actions") {
            return Err(SetupError::ActionsUnsupported {
                server: server_name(&proxy),
            });
        }
        // Subscribe before the first Notify so no answer can be missed. The
        // proxy only passes signals sent by the current owner of the
        // well-known name, so another client cannot forge a click.
        let signals = proxy
            .receive_all_signals()
            .map_err(SetupError::ServerMissing)?;
        let (tx, events) = mpsc::channel();
        thread::Builder::new()
            .name("notify-signals".into())
            .spawn(move || {
                for message in signals {
                    let Some(event) = parse_event(&message) else {
                        continue;
                    };
                    if tx.send(event).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| SetupError::BusUnreachable(zbus::Error::from(e)))?;
        Ok(Self {
            proxy,
            events,
            markup: capabilities.iter().any(|c| c == "body-markup"),
        })
    }

    /// Spec `Notify`: shows a critical notification with Approve and Deny
    /// buttons that never expires on its own; returns its id.
    pub fn show(&self, summary: &str, body: &str) -> zbus::Result<u32> {
        let body = if self.markup {
            escape_markup(body)
        } else {
            body.to_owned()
        };
        let actions = vec![APPROVE, "Approve", DENY, "Deny"];
        let hints = HashMap::from([("urgency", Value::U8(URGENCY_CRITICAL))]);
        self.proxy.call(
            "Notify",
            &(
                APP_NAME,
                0u32,
                APP_ICON,
                summary,
                body.as_str(),
                actions,
                hints,
                NEVER_EXPIRE,
            ),
        )
    }

    /// Spec `CloseNotification`, without waiting for the reply, so a cancel
    /// is answered at once. Closing one that is gone already is harmless.
    pub fn close(&self, id: u32) {
        if let Err(e) = self.proxy.call_noreply("CloseNotification", &(id,)) {
            tracing::debug!(id, error = %e, "closing the notification failed");
        }
    }

    /// Forgets answers to earlier notifications.
    pub fn drain(&self) {
        while self.events.try_recv().is_ok() {}
    }

    /// The next event within `timeout`: `Ok(None)` if none came, `Err` once
    /// the bus connection is gone.
    pub fn next_event(&self, timeout: Duration) -> Result<Option<Event>, BusGone> {
        match self.events.recv_timeout(timeout) {
            Ok(event) => Ok(Some(event)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(BusGone),
        }
    }
}

/// The session bus connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusGone;

fn notifications_proxy(conn: &Connection) -> zbus::Result<Proxy<'static>> {
    proxy::Builder::new(conn)
        .destination(DESTINATION)?
        .path(PATH)?
        .interface(INTERFACE)?
        .cache_properties(CacheProperties::No)
        .build()
}

/// Spec `GetServerInformation`: the server's name, for the error message.
fn server_name(proxy: &Proxy<'_>) -> Option<String> {
    proxy
        .call::<_, _, (String, String, String, String)>("GetServerInformation", &())
        .ok()
        .map(|(name, _vendor, version, _spec)| format!("{name} {version}").trim().to_owned())
}

fn parse_event(message: &zbus::Message) -> Option<Event> {
    let header = message.header();
    if header.interface().map(|i| i.as_str()) != Some(INTERFACE) {
        return None;
    }
    let body = message.body();
    match header.member()?.as_str() {
        "ActionInvoked" => {
            let (id, key) = body.deserialize::<(u32, String)>().ok()?;
            Some(Event::Action { id, key })
        }
        "NotificationClosed" => {
            let (id, reason) = body.deserialize::<(u32, u32)>().ok()?;
            Some(Event::Closed {
                id,
                reason: CloseReason::from_code(reason),
            })
        }
        _ => None,
    }
}

/// Spec "Markup": the body is a small XML-like subset, so `&`, `<` and `>`
/// in names chosen by a relying party must not be taken as markup.
fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_relying_party_text_is_escaped() {
        assert_eq!(
            escape_markup("\"a<b>&c\" asks to register"),
            "\"a&lt;b&gt;&amp;c\" asks to register"
        );
    }

    #[test]
    fn close_reasons_follow_the_spec_codes() {
        assert_eq!(CloseReason::from_code(1), CloseReason::Expired);
        assert_eq!(CloseReason::from_code(2), CloseReason::Dismissed);
        assert_eq!(CloseReason::from_code(3), CloseReason::ClosedByCall);
        assert_eq!(CloseReason::from_code(4), CloseReason::Undefined);
        assert_eq!(CloseReason::from_code(99), CloseReason::Undefined);
    }
}
