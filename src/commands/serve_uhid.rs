//! `softkey serve --transport uhid`: the key as a Linux HID device made
//! through uhid, by `softkey uhid-relay` (the default: this process stays
//! unprivileged) or, with `--uhid-device`, by this process on `/dev/uhid`
//! itself (docs/linux.md "The uhid transport").
//!
//! Where to reach uhid is checked before the passphrase is asked for; the
//! relay is connected to only after the unlock, because the connection is
//! the device: a host must not find a key that cannot answer yet.

use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use softkey_transport::uhid::relay::DEFAULT_SOCKET;
use softkey_transport::{DeviceConfig, UhidDevice, UhidShutdown};

use crate::automation::{AutomatedKey, Automation};
use crate::cli::ServeArgs;
use crate::key::Key;

/// Where the device will come from, then the device itself.
#[derive(Debug)]
pub struct UhidPlan {
    /// The relay's socket, until connected.
    relay: Option<PathBuf>,
    device: Option<UhidDevice>,
    serial: String,
}

/// Refuses flags of the other transport, which would silently mean nothing.
pub fn check_args(args: &ServeArgs, uhid: bool) -> Result<()> {
    if !uhid {
        if args.uhid_relay.is_some() || args.uhid_device.is_some() {
            bail!("--uhid-relay and --uhid-device need --transport uhid");
        }
        return Ok(());
    }
    if args.allow_remote || !args.allow_uids.is_empty() {
        bail!(
            "--allow-remote and --allow-uid are USB/IP settings; with --transport uhid the relay's \
             --allow-user decides who gets a device"
        );
    }
    Ok(())
}

impl UhidPlan {
    /// Checks that the relay's socket is there, or opens `--uhid-device`.
    pub fn prepare(args: &ServeArgs) -> Result<UhidPlan> {
        if let Some(path) = &args.uhid_device {
            let device = UhidDevice::direct(path).with_context(|| {
                format!(
                    "cannot open {} (only root may open /dev/uhid; without --uhid-device the key \
                     is made through `softkey uhid-relay`, docs/linux.md)",
                    path.display()
                )
            })?;
            return Ok(UhidPlan {
                relay: None,
                device: Some(device),
                serial: String::new(),
            });
        }
        let socket = args
            .uhid_relay
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
        let is_socket = std::fs::metadata(&socket)
            .map(|m| m.file_type().is_socket())
            .unwrap_or(false);
        if !is_socket {
            bail!(
                "no uhid relay at {}: start it as root (contrib/softkey-uhid-relay.service, or \
                 `sudo softkey uhid-relay --allow-user $USER`), or give --uhid-relay SOCKET \
                 (docs/linux.md \"The uhid relay\")",
                socket.display()
            );
        }
        Ok(UhidPlan {
            relay: Some(socket),
            device: None,
            serial: String::new(),
        })
    }

    /// Connects to the relay (which creates the device). `serial` is the
    /// serial number a device made here carries (the relay names its own).
    pub fn open(mut self, serial: String) -> Result<UhidPlan> {
        if let Some(socket) = self.relay.take() {
            let device = UhidDevice::relay(&socket).with_context(|| {
                format!("cannot connect to the uhid relay at {}", socket.display())
            })?;
            self.device = Some(device);
        }
        self.serial = serial;
        Ok(self)
    }

    pub fn shutdown_handle(&self) -> Result<UhidShutdown> {
        self.device
            .as_ref()
            .map(UhidDevice::shutdown_handle)
            .context("the uhid device is not open")
    }
}

/// Serves `key` on the device until a signal stops it or the device goes.
pub fn serve(
    args: &ServeArgs,
    plan: UhidPlan,
    key: Key,
    automation: Option<Automation>,
) -> Result<()> {
    let device = plan.device.context("the uhid device is not open")?;
    let how = match &args.uhid_device {
        Some(path) => format!("made on {}", path.display()),
        None => "made by the uhid relay".to_owned(),
    };
    println!(
        "softkey: serving as a uhid device ({how}, presence {})",
        crate::control::state::mode_name(args.presence())
    );
    println!("It is plugged in now: `fido2-token -L` lists it.");
    if args.ephemeral {
        println!("Ephemeral vault: credentials are gone when this process ends.");
    }
    let config = DeviceConfig::new(plan.serial);
    let relay_hint = || {
        if args.uhid_device.is_none() {
            "the uhid device stopped (if at once: is this user in the relay's --allow-user? the \
             relay's log says why)"
        } else {
            "the uhid device stopped"
        }
    };
    match automation {
        Some(automation) => {
            println!("FIDO Conformance Tools automation: see --conformance-automation");
            device.run(&config, AutomatedKey::new(key, &automation))
        }
        None => device.run(&config, key),
    }
    .with_context(relay_hint)
}
