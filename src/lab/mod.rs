//! `softkey lab`: the relying-party test lab. One process serves any number
//! of ephemeral virtual authenticators, each a complete softkey key on its
//! own USB/IP device, controlled through an HTTP+JSON API on loopback whose
//! paths and names are the W3C WebDriver virtual authenticator ones
//! (`api.rs`). Never a vault: lab keys hold test credentials only.
//!
//! The API answers only requests carrying the token the lab writes, fresh
//! at every start, to a 0600 file in the user's private runtime directory
//! (`check_dir`: ours, 0700), so other local users cannot drive it.

mod api;
mod authenticators;
mod client;
mod credentials;
mod events;
pub(crate) mod http;
mod metadata;
mod options;
pub(crate) mod presence;

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use softkey_transport::{DeviceConfig, PeerPolicy, Server, ServerConfig};

use crate::cli::{LabArgs, LabCommand, LabServeArgs};

pub use authenticators::Lab;

/// `softkey lab VERB`.
pub fn run(args: &LabArgs) -> Result<()> {
    let print = |value: &serde_json::Value| {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
        );
    };
    match &args.command {
        LabCommand::Serve(serve_args) => serve(serve_args),
        LabCommand::Add { options, api } => {
            let options: serde_json::Value =
                serde_json::from_str(options).context("--options is not JSON")?;
            let id = client::call(api, "POST", "/webauthn/authenticator", Some(&options))?;
            println!("{}", id.as_str().unwrap_or_default());
            Ok(())
        }
        LabCommand::List { api } => {
            print(&client::call(api, "GET", "/webauthn/authenticators", None)?);
            Ok(())
        }
        LabCommand::Remove { id, api } => client::call(
            api,
            "DELETE",
            &format!("/webauthn/authenticator/{id}"),
            None,
        )
        .map(drop),
        LabCommand::Touch { id, api } => client::call(
            api,
            "POST",
            &format!("/webauthn/authenticator/{id}/touch"),
            None,
        )
        .map(drop),
        LabCommand::Pin {
            id,
            clear: true,
            api,
            ..
        } => client::call(
            api,
            "DELETE",
            &format!("/webauthn/authenticator/{id}/pin"),
            None,
        )
        .map(drop),
        LabCommand::Pin {
            id,
            retries: Some(left),
            api,
            ..
        } => client::call(
            api,
            "POST",
            &format!("/webauthn/authenticator/{id}/pin"),
            Some(&serde_json::json!({ "retries": left })),
        )
        .map(drop),
        LabCommand::Pin {
            id,
            retries: None,
            api,
            ..
        } => {
            let mut pin = String::new();
            std::io::stdin()
                .read_line(&mut pin)
                .context("cannot read the PIN from standard input")?;
            let pin = pin.trim_end_matches(['\r', '\n']);
            let body = serde_json::json!({ "pin": pin });
            client::call(
                api,
                "POST",
                &format!("/webauthn/authenticator/{id}/pin"),
                Some(&body),
            )
            .map(drop)
        }
        LabCommand::Reset { id, api } => client::call(
            api,
            "POST",
            &format!("/webauthn/authenticator/{id}/reset"),
            None,
        )
        .map(drop),
        LabCommand::Credentials { id, api } => {
            let path = format!("/webauthn/authenticator/{id}/credentials");
            print(&client::call(api, "GET", &path, None)?);
            Ok(())
        }
    }
}

/// `softkey lab serve`.
fn serve(args: &LabServeArgs) -> Result<()> {
    if !args.listen.ip().is_loopback() {
        anyhow::bail!("the lab listens on loopback only (USB/IP has no authentication)");
    }
    let server = Server::bind(ServerConfig {
        listen: args.listen,
        device: DeviceConfig::new("LAB"),
        peers: PeerPolicy::LocalUids(allowed_uids()),
    })
    .with_context(|| format!("cannot listen on {} for USB/IP", args.listen))?;
    let api = http::bind(args.api)
        .with_context(|| format!("cannot listen on {} for the lab API", args.api))?;
    let api_addr = api.local_addr()?;
    let token_file = args.token_file.clone().unwrap_or_else(default_token_file);
    let token = Arc::new(write_token(&token_file)?);
    let lab = Arc::new(Lab::new(server.exports()));
    let signals = crate::shutdown::SignalWatch::install(server.shutdown_handle())
        .context("cannot install the SIGTERM/SIGINT handlers")?;
    let usbip_addr = server.local_addr();
    let handler_lab = Arc::clone(&lab);
    std::thread::Builder::new()
        .name("lab-api-accept".into())
        .spawn(move || {
            http::serve(api, Some(token), move |request| {
                api::handle(&handler_lab, request)
            })
        })
        .context("cannot start the lab API")?;
    println!("softkey lab: USB/IP on {usbip_addr}, API on http://{api_addr}");
    println!("API token in {}", token_file.display());
    println!(
        "Add an authenticator: POST /webauthn/authenticator; attach it with `usbip attach -b <its id>`."
    );
    let _ = std::io::stdout().flush();
    server.serve().context("the USB/IP server stopped")?;
    let _ = fs::remove_file(&token_file);
    if let Some(signal) = signals.stopped_by() {
        crate::shutdown::say(&format!("softkey lab: stopped ({signal})"));
    }
    Ok(())
}

/// Root (for `usbip attach`) and the user who started the lab.
fn allowed_uids() -> Vec<u32> {
    let mut uids = vec![0, rustix::process::geteuid().as_raw()];
    uids.dedup();
    uids
}

fn default_token_file() -> PathBuf {
    crate::paths::socket_dir().join("lab-token")
}

/// A fresh random token (32 bytes, hex) in a new 0600 file in a private
/// directory; an old file of ours is replaced.
fn write_token(path: &Path) -> Result<String> {
    crate::control::check_dir(path, true).map_err(anyhow::Error::msg)?;
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).context("the operating system's random number generator failed")?;
    let token = crate::text::to_hex(&raw);
    let _ = fs::remove_file(path);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create the token file {}", path.display()))?;
    file.write_all(token.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write the token file {}", path.display()))?;
    Ok(token)
}
