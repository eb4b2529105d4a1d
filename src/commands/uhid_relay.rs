//! `softkey uhid-relay`: the privileged half of `serve --transport uhid`
//! (`softkey_transport::uhid::relay`; docs/linux.md "The uhid relay").

use std::fs::OpenOptions;

use anyhow::{Context, Result};
use softkey_transport::{Relay, RelayConfig};

use crate::cli::UhidRelayArgs;

pub fn run(args: &UhidRelayArgs) -> Result<()> {
    // Fail now, not at the first connection, when uhid is out of reach.
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(&args.uhid_device)
        .with_context(|| {
            format!(
                "cannot open {} (the relay runs as root; is the uhid module loaded? `modprobe uhid`)",
                args.uhid_device.display()
            )
        })?;
    let relay = Relay::bind(RelayConfig {
        socket: args.socket.clone(),
        allowed_uids: args.allow_users.clone(),
        uhid: args.uhid_device.clone(),
    })
    .with_context(|| format!("cannot listen on {}", args.socket.display()))?;
    let users: Vec<String> = args.allow_users.iter().map(u32::to_string).collect();
    println!(
        "softkey uhid-relay: listening on {} for uid {}",
        relay.socket().display(),
        users.join(", ")
    );
    relay.run().context("the uhid relay stopped")
}
