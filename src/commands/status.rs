//! `softkey status`: whether a `softkey serve` answers on the control socket
//! and what it reports; without one, the vault it would use. Exits 0 when a
//! server answers and 3 when none runs, so scripts can tell.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::cli::StatusArgs;
use crate::control::client::{Client, ConnectError, unexpected};
use crate::control::protocol::{Reply, Request, StatusInfo};

/// The exit status when no server runs (as `systemctl is-active` uses 3).
pub const NOT_RUNNING: i32 = 3;

pub fn run(args: &StatusArgs) -> Result<()> {
    match Client::connect_args(&args.control) {
        Ok(mut client) => {
            let status = match client.call(&Request::Status, Duration::ZERO)? {
                Reply::Status(status) => status,
                other => return Err(unexpected(&other)),
            };
            if args.json {
                let mut value = serde_json::to_value(&status).context("encoding JSON")?;
                if let Value::Object(map) = &mut value {
                    map.insert("running".into(), Value::Bool(true));
                }
                print_json(&value)?;
            } else {
                print!("{}", render_running(&status, unix_now()));
            }
            Ok(())
        }
        Err(ConnectError::NotRunning { path }) => {
            let vault = match &args.vault {
                Some(path) => path.clone(),
                None => crate::paths::default_vault_path()?,
            };
            if args.json {
                print_json(&json!({
                    "running": false,
                    "control_socket": path.display().to_string(),
                    "vault": vault.display().to_string(),
                    "vault_exists": vault.exists(),
                }))?;
            } else {
                print!("{}", render_not_running(&path, &vault));
            }
            let _ = std::io::stdout().flush();
            std::process::exit(NOT_RUNNING);
        }
        Err(other) => Err(other.into()),
    }
}

fn print_json(value: &Value) -> Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).context("encoding JSON")?
    );
    Ok(())
}

fn render_running(s: &StatusInfo, now: u64) -> String {
    let mut out = format!(
        "softkey serve is running (pid {}, up {}).\n",
        s.pid,
        duration(s.uptime_secs)
    );
    let listen = match &s.listen {
        Some(addr) => format!("{addr}, bus id {}", s.bus_id),
        None => "not yet (unlocking the vault)".into(),
    };
    out.push_str(&format!("  Listening: {listen}\n"));
    out.push_str(&format!(
        "  Presence:  {} (prompts wait {} s)\n",
        s.presence, s.prompt_timeout_secs
    ));
    out.push_str(&format!("  Vault:     {}\n", s.vault));
    let host = match (s.host.attached, s.host.last_attached_at) {
        (true, _) => "attached".to_owned(),
        (false, Some(at)) => format!(
            "not attached now (last attached {} ago)",
            duration(now.saturating_sub(at))
        ),
        (false, None) => "never attached (see `softkey serve`'s output for `usbip attach`)".into(),
    };
    out.push_str(&format!("  Host:      {host}\n"));
    out.push_str(&format!("  Control:   {}\n", s.control_socket));
    match &s.pending {
        Some(p) => {
            out.push_str(&format!(
                "  Waiting:   request {}: {} ({} s left)\n",
                p.id, p.prompt, p.seconds_left
            ));
            if s.presence == "socket" {
                out.push_str("             Answer with `softkey approve` or `softkey deny`.\n");
            }
        }
        None => out.push_str("  Waiting:   nothing\n"),
    }
    out
}

fn render_not_running(socket: &Path, vault: &Path) -> String {
    let vault_state = if vault.exists() {
        "exists"
    } else {
        "does not exist yet: create it with `softkey init`"
    };
    format!(
        "softkey serve is not running (no control socket at {}).\n  Vault: {} ({vault_state})\n\
         Start it with `softkey serve`.\n",
        socket.display(),
        vault.display()
    )
}

/// "2 h 5 min", "3 min 4 s", "12 s".
fn duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h} h {m} min")
    } else if m > 0 {
        format!("{m} min {s} s")
    } else {
        format!("{s} s")
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::HostInfo;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(12), "12 s");
        assert_eq!(duration(184), "3 min 4 s");
        assert_eq!(duration(7500), "2 h 5 min");
    }

    #[test]
    fn running_text_names_everything() {
        let status = StatusInfo {
            softkey_version: "0.1.0".into(),
            pid: 42,
            state: "serving".into(),
            listen: Some("127.0.0.1:3240".into()),
            bus_id: "1-1".into(),
            presence: "socket".into(),
            prompt_timeout_secs: 30,
            vault: "ephemeral".into(),
            control_socket: "/run/user/1000/softkey/control.sock".into(),
            started_at: 1000,
            uptime_secs: 65,
            host: HostInfo {
                attached: false,
                attaches: 1,
                last_attached_at: Some(1000),
            },
            pending: None,
        };
        let text = render_running(&status, 1010);
        assert!(text.starts_with("softkey serve is running (pid 42, up 1 min 5 s)."));
        assert!(text.contains("127.0.0.1:3240, bus id 1-1"));
        assert!(text.contains("last attached 10 s ago"));
        assert!(text.contains("Waiting:   nothing"));
    }
}
