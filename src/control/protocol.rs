//! The control protocol: one JSON object per line each way, request then
//! reply, several per connection. Every line carries the protocol version
//! `"v": 1`; a server answers a version it does not speak with an error, so a
//! newer client can tell. Lines are at most [`MAX_LINE`] bytes.
//!
//! Requests (`op`): `status`, `pending`, `wait-pending` (`timeout_ms`),
//! `approve` / `deny` (optional `id`). Replies (`result`): `status`,
//! `pending` (`requests`), `answered` (`id`, `approved`, `prompt`: the line
//! the answered request's prompt showed), `error` (`code`, `message`).
//!
//! ```text
//! → {"v":1,"op":"approve","id":3}
//! ← {"v":1,"result":"answered","id":3,"approved":true,"prompt":"\"github.com\" asks to sign in"}
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const VERSION: u64 = 1;
/// Longest line either side sends; a status reply is well under 2 KiB.
pub const MAX_LINE: usize = 16 * 1024;
/// The longest `wait-pending` the server honours in one request.
pub const MAX_WAIT_MS: u64 = 600_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    Status,
    Pending,
    /// Blocks until a request waits for approval or `timeout_ms` passes.
    WaitPending {
        timeout_ms: u64,
    },
    /// No id: the request that is waiting.
    Approve {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
    Deny {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Reply {
    Status(Box<StatusInfo>),
    Pending {
        requests: Vec<PendingInfo>,
    },
    Answered {
        id: u64,
        approved: bool,
        /// What the answered request's prompt showed (escaped).
        #[serde(default)]
        prompt: String,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// Not JSON, not an object, an unknown `op` or a missing field.
    BadRequest,
    UnsupportedVersion,
    LineTooLong,
    /// approve/deny with nothing waiting.
    NothingPending,
    /// approve/deny naming a request that is not the one waiting.
    UnknownId,
    /// approve/deny at a key whose prompts are answered elsewhere.
    WrongPresenceMode,
    /// Too many control connections at once.
    Busy,
}

/// What `status` reports about a running `softkey serve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusInfo {
    pub softkey_version: String,
    pub pid: u32,
    /// `starting` (unlocking the vault) or `serving`.
    pub state: String,
    /// The USB/IP listen address, once bound.
    pub listen: Option<String>,
    /// The USB/IP bus id, or [`UHID_BUS_ID`] for a key that is a uhid device.
    pub bus_id: String,
    /// tty, notify, socket, auto or deny.
    pub presence: String,
    pub prompt_timeout_secs: u64,
    /// The vault file, or `ephemeral`.
    pub vault: String,
    pub control_socket: String,
    /// Unix time, seconds.
    pub started_at: u64,
    pub uptime_secs: u64,
    pub host: HostInfo,
    pub pending: Option<PendingInfo>,
}

/// What the key knows about the host side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    /// Whether a host has the device imported now.
    pub attached: bool,
    /// How many times a host imported the device since the start.
    pub attaches: u64,
    /// Unix time of the latest import.
    pub last_attached_at: Option<u64>,
}

/// One request waiting for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingInfo {
    pub id: u64,
    /// register, sign-in, reset, select or manage-credentials.
    pub operation: String,
    /// Who asks: "rp" (a CTAP2 request; `rp_id` is its RP id, exactly as
    /// sent, possibly empty), "u2f" (a U2F app, which names no RP id) or
    /// "device" (reset, select, setPIN).
    #[serde(default)]
    pub requester: String,
    /// The RP id of an "rp" request; empty otherwise. As sent: print
    /// `prompt`, which is escaped, to show it to a person.
    pub rp_id: String,
    pub user_name: Option<String>,
    pub user_display_name: Option<String>,
    /// The line the prompt shows ("\"github.com\" asks to sign in as \"alice\"").
    pub prompt: String,
    pub seconds_left: u64,
}

/// Why a line could not be read as a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub code: ErrorCode,
    pub message: String,
}

impl Reply {
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Reply::Error {
            code,
            message: message.into(),
        }
    }
}

/// Serialises a request or reply as one line (with the version and `\n`).
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    let mut value = serde_json::to_value(message).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("v".into(), Value::from(VERSION));
    }
    let mut line = serde_json::to_vec(&value).unwrap_or_default();
    line.push(b'\n');
    line
}

/// Parses one line (without its `\n`) as `T`, checking the version first.
pub fn decode<T: for<'de> Deserialize<'de>>(line: &[u8]) -> Result<T, BadLine> {
    let bad = |message: String| BadLine {
        code: ErrorCode::BadRequest,
        message,
    };
    let value: Value =
        serde_json::from_slice(line).map_err(|e| bad(format!("not a JSON line: {e}")))?;
    match value.get("v").and_then(Value::as_u64) {
        Some(VERSION) => {}
        Some(other) => {
            return Err(BadLine {
                code: ErrorCode::UnsupportedVersion,
                message: format!("protocol version {other} is not supported (this is {VERSION})"),
            });
        }
        None => return Err(bad("missing protocol version \"v\"".into())),
    }
    serde_json::from_value(value).map_err(|e| bad(format!("not a valid message: {e}")))
}

/// The `bus_id` a key served with `--transport uhid` reports: it has no USB/IP bus, and no
/// listen address either.
pub const UHID_BUS_ID: &str = "uhid";

#[cfg(test)]
mod tests {
    use super::*;

    fn line(bytes: &[u8]) -> &[u8] {
        bytes.strip_suffix(b"\n").unwrap_or(bytes)
    }

    #[test]
    fn requests_round_trip_with_a_version() {
        for request in [
            Request::Status,
            Request::Pending,
            Request::WaitPending { timeout_ms: 500 },
            Request::Approve { id: None },
            Request::Deny { id: Some(7) },
        ] {
            let bytes = encode(&request);
            assert!(bytes.ends_with(b"\n"));
            assert_eq!(decode::<Request>(line(&bytes)), Ok(request));
        }
        assert_eq!(
            String::from_utf8_lossy(&encode(&Request::Approve { id: Some(3) })),
            "{\"id\":3,\"op\":\"approve\",\"v\":1}\n"
        );
    }

    #[test]
    fn replies_round_trip() {
        let reply = Reply::Pending {
            requests: vec![PendingInfo {
                id: 1,
                operation: "sign-in".into(),
                requester: "rp".into(),
                rp_id: "github.com".into(),
                user_name: Some("alice".into()),
                user_display_name: None,
                prompt: "\"github.com\" asks to sign in as \"alice\"".into(),
                seconds_left: 29,
            }],
        };
        assert_eq!(decode::<Reply>(line(&encode(&reply))), Ok(reply));
        let error = Reply::error(ErrorCode::NothingPending, "nothing");
        assert_eq!(decode::<Reply>(line(&encode(&error))), Ok(error));
    }

    #[test]
    fn malformed_lines_are_errors_not_panics() {
        for (input, code) in [
            (&b"not json"[..], ErrorCode::BadRequest),
            (b"[1,2]", ErrorCode::BadRequest),
            (b"{\"op\":\"status\"}", ErrorCode::BadRequest),
            (b"{\"v\":1,\"op\":\"launch\"}", ErrorCode::BadRequest),
            (
                b"{\"v\":1,\"op\":\"approve\",\"id\":-1}",
                ErrorCode::BadRequest,
            ),
            (b"{\"v\":1,\"op\":\"wait-pending\"}", ErrorCode::BadRequest),
            (
                b"{\"v\":2,\"op\":\"status\"}",
                ErrorCode::UnsupportedVersion,
            ),
            (b"\xff\xfe", ErrorCode::BadRequest),
        ] {
            let result = decode::<Request>(input);
            assert_eq!(result.map_err(|e| e.code), Err(code), "{input:?}");
        }
    }
}
