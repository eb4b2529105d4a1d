//! `softkey status`: whether a `softkey serve` answers on the control socket
//! and what it reports; without one, the vault it would use. Exits 0 when a
//! server answers and 3 when none runs, so scripts can tell.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::cli::StatusArgs;
use crate::control::client::{Client, ConnectError, running, unexpected};
use crate::control::protocol::{Reply, Request, StatusInfo};
use crate::text::unix_now;

/// The exit status when no server runs (as `systemctl is-active` uses 3).
pub const NOT_RUNNING: i32 = 3;

pub fn run(args: &StatusArgs) -> Result<()> {
    let servers = if args.control.control_socket.is_some() {
        // One named socket: exactly that server, or not running.
        match Client::find(&args.control, None) {
            Ok(mut client) => match client.call(&Request::Status, Duration::ZERO)? {
                Reply::Status(status) => vec![*status],
                other => return Err(unexpected(&other)),
            },
            Err(ConnectError::NotRunning { .. }) => Vec::new(),
            Err(other) => return Err(other.into()),
        }
    } else {
        running()?.into_iter().map(|(_, status)| status).collect()
    };
    if servers.is_empty() {
        return not_running(args);
    }
    if args.json {
        let mut values = Vec::with_capacity(servers.len());
        for status in &servers {
            let mut value = serde_json::to_value(status).context("encoding JSON")?;
            if let Value::Object(map) = &mut value {
                map.insert("running".into(), Value::Bool(true));
            }
            values.push(value);
        }
        // One key: its object, as before; several: an array of them.
        match <[Value; 1]>::try_from(values) {
            Ok([one]) => print_json(&one)?,
            Err(values) => print_json(&Value::Array(values))?,
        }
    } else {
        let now = unix_now();
        let text: Vec<String> = servers.iter().map(|s| render_running(s, now)).collect();
        print!("{}", text.join("\n"));
    }
    Ok(())
}

/// Nothing answers: say so, describe the vault, and exit [`NOT_RUNNING`].
fn not_running(args: &StatusArgs) -> Result<()> {
    let socket = match &args.control.control_socket {
        Some(path) => path.clone(),
        None => crate::paths::socket_dir(),
    };
    let vault = match &args.vault {
        Some(path) => path.clone(),
        None => crate::paths::default_vault_path()?,
    };
    if args.json {
        print_json(&json!({
            "running": false,
            "control_socket": socket.display().to_string(),
            "vault": vault.display().to_string(),
            "vault_exists": vault.exists(),
        }))?;
    } else {
        print!(
            "{}",
            render_not_running(&socket, &vault, args.vault.is_some())
        );
    }
    let _ = std::io::stdout().flush();
    std::process::exit(NOT_RUNNING);
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
    let listen = match (&s.listen, s.bus_id.as_str()) {
        (Some(addr), _) => format!("{addr}, bus id {}", s.bus_id),
        // `serve --transport uhid` listens nowhere: it is a HID device.
        (None, crate::control::protocol::UHID_BUS_ID) => {
            "no: a uhid device (serve --transport uhid)".into()
        }
        (None, _) => "not yet (unlocking the vault)".into(),
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

/// `named`: the vault was given (flag or config file), so the commands to
/// run name it too.
fn render_not_running(socket: &Path, vault: &Path, named: bool) -> String {
    let flag = if named {
        format!(" --vault {}", vault.display())
    } else {
        String::new()
    };
    let vault_state = if vault.exists() {
        "exists".to_owned()
    } else {
        format!("does not exist yet: create it with `softkey init{flag}`")
    };
    format!(
        "softkey serve is not running (no control socket in {}).\n  Vault: {} ({vault_state})\n\
         Start it with `softkey serve{flag}`.\n",
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
