//! `softkey serve`: unlock, then export the key over USB/IP (or make it a
//! uhid device, `serve_uhid`) until stopped.

use anyhow::{Context, Result, bail};
use softkey_authenticator::MemoryStore;
use softkey_transport::{DEFAULT_BUS_ID, DeviceConfig, PeerPolicy, Server, ServerConfig};

use super::serve_uhid::UhidPlan;
use crate::cli::{DEFAULT_LISTEN, PresenceMode, ServeArgs, TransportArg};
use crate::control::Served;
use crate::key::Key;
use crate::presence;
use crate::store::Backing;
use crate::text::to_hex;

const DEFAULT_PORT: u16 = 3240;

/// How the host will see the key.
enum Endpoint {
    Usbip(Server),
    Uhid(UhidPlan),
}

pub fn run(args: &ServeArgs) -> Result<()> {
    let uhid = args.transport == Some(TransportArg::Uhid);
    super::serve_uhid::check_args(args, uhid)?;
    if !uhid {
        check_listen_address(args)?;
    }
    // Everything that needs no passphrase comes first: a vault in use or
    // missing, a port in use, no relay, no notification server. Nobody
    // types a passphrase only to learn that the key cannot start.
    let mut locked = match args.ephemeral {
        true => None,
        false => Some(super::lock_vault(&args.vault)?),
    };
    let served = locked
        .as_ref()
        .map_or(Served::Ephemeral, |l| Served::Vault(l.path()));
    let endpoint = if uhid {
        Endpoint::Uhid(UhidPlan::prepare(args)?)
    } else {
        Endpoint::Usbip(
            Server::bind(ServerConfig {
                listen: args.listen(),
                // The serial lives in the vault: set once it is unlocked.
                device: DeviceConfig::new(String::new()),
                peers: peer_policy(args),
            })
            .map_err(|e| listen_error(args, e))?,
        )
    };
    let bus_id = match &endpoint {
        Endpoint::Usbip(_) => DEFAULT_BUS_ID,
        Endpoint::Uhid(_) => crate::control::protocol::UHID_BUS_ID,
    };
    let control = crate::control::start_for_serve(args, served, bus_id)?;
    // The terminal prompt reads standard input, as the passphrase prompt
    // does: it starts after the unlock. The others are checked now.
    let automation = args
        .conformance_automation
        .map(|addr| {
            let automation = crate::automation::Automation::new();
            automation.serve(addr).map(|local| (automation, local))
        })
        .transpose()?;
    let early_presence = match (&automation, args.presence()) {
        (Some((automation, _)), _) => {
            Some(Box::new(automation.presence()) as Box<dyn crate::presence::PresenceProvider>)
        }
        (None, PresenceMode::Tty) => None,
        (None, mode) => Some(
            presence::provider(mode, args.prompt_timeout(), &control.state)
                .map_err(anyhow::Error::msg)?,
        ),
    };
    let mut store = match &mut locked {
        None => {
            let mut memory = Backing::Memory(MemoryStore::default());
            super::attestation::provision(&mut memory)?;
            memory
        }
        Some(locked) => Backing::vault(super::unlock_vault(
            locked,
            args.vault.passphrase_file.as_deref(),
        )?),
    };
    apply_attestation_settings(args, &mut store)?;
    let serial = usb_serial(&mut store)?;
    let endpoint = match endpoint {
        Endpoint::Usbip(mut server) => {
            server.set_serial(serial);
            Endpoint::Usbip(server)
        }
        // The relay's device exists from here on: connect after the unlock.
        Endpoint::Uhid(plan) => Endpoint::Uhid(plan.open(serial)?),
    };
    // From here on SIGTERM / SIGINT stop the server cleanly (shutdown.rs).
    let signals = match &endpoint {
        Endpoint::Usbip(server) => crate::shutdown::SignalWatch::install(server.shutdown_handle()),
        Endpoint::Uhid(plan) => crate::shutdown::SignalWatch::install(plan.shutdown_handle()?),
    }
    .context("cannot install the SIGTERM/SIGINT handlers")?;
    if let Endpoint::Usbip(server) = &endpoint {
        control.state.set_listening(server.local_addr());
    }
    let presence = match early_presence {
        Some(presence) => presence,
        None => presence::provider(args.presence(), args.prompt_timeout(), &control.state)
            .map_err(anyhow::Error::msg)?,
    };
    if automation.is_none()
        && args.presence() == PresenceMode::Tty
        && !std::io::IsTerminal::is_terminal(&std::io::stdin())
    {
        tracing::warn!("standard input is not a terminal: presence prompts read answers from it");
    }
    let config = softkey_authenticator::Config {
        algorithms: args.algorithms().0,
        // Platforms keep their messages to maxMsgSize (large-blob fragments,
        // batched lists), so a uhid device asks for no more than the kernel
        // queues whole (docs/linux.md "A limit of uhid").
        max_msg_size: match &endpoint {
            Endpoint::Usbip(_) => softkey_authenticator::MAX_MSG_SIZE,
            Endpoint::Uhid(_) => softkey_transport::uhid::MAX_WHOLE_MESSAGE,
        },
        ..Default::default()
    };
    let key = Key::new(store, presence, config).with_control(std::sync::Arc::clone(&control.state));
    let server = match endpoint {
        Endpoint::Usbip(server) => server,
        Endpoint::Uhid(plan) => {
            let automation = automation.map(|(automation, _)| automation);
            super::serve_uhid::serve(args, plan, key, automation)?;
            if let Some(signal) = signals.stopped_by() {
                crate::shutdown::say(&format!("softkey: stopped ({signal})"));
            }
            return Ok(());
        }
    };
    let addr = server.local_addr();

    println!(
        "softkey: serving on {addr} (bus id {DEFAULT_BUS_ID}, presence {})",
        crate::control::state::mode_name(args.presence())
    );
    println!("Attach it on Linux with:");
    println!("  sudo modprobe vhci-hcd");
    println!(
        "  sudo usbip {}attach -r {} -b {DEFAULT_BUS_ID}",
        port_flag(addr.port()),
        host_for(addr)
    );
    if args.ephemeral {
        println!("Ephemeral vault: credentials are gone when this process ends.");
    }
    // `run` returns once a signal stopped it, after the key (and with it
    // the vault and its lock) has been dropped.
    match automation {
        Some((automation, local)) => {
            println!(
                "FIDO Conformance Tools automation on http://{local}/conformance/ (userpresence, powercycle, results)"
            );
            server
                .run(crate::automation::AutomatedKey::new(key, &automation))
                .context("the USB/IP server stopped")?;
        }
        None => server.run(key).context("the USB/IP server stopped")?,
    }
    if let Some(signal) = signals.stopped_by() {
        crate::shutdown::say(&format!("softkey: stopped ({signal})"));
    }
    Ok(())
}

fn check_listen_address(args: &ServeArgs) -> Result<()> {
    if args.listen().ip().is_loopback() {
        return Ok(());
    }
    if !args.allow_remote {
        bail!(
            "refusing to listen on {}: USB/IP has no authentication, so anyone who can reach \
             that address could use your key. Pass --allow-remote if you really mean it \
             (default: {DEFAULT_LISTEN}).",
            args.listen()
        );
    }
    tracing::warn!(listen = %args.listen(), "listening beyond loopback: anyone who reaches this port can use the key");
    eprintln!(
        "WARNING: listening on {}: USB/IP has no authentication; anyone who reaches this port can use the key.",
        args.listen()
    );
    Ok(())
}

/// Who may connect: on loopback, root (`sudo usbip attach` hands the kernel
/// a root-owned socket), the user running `serve`, and `--allow-uid` users;
/// on an address other hosts reach (`--allow-remote`), anyone who can.
fn peer_policy(args: &ServeArgs) -> PeerPolicy {
    if !args.listen().ip().is_loopback() {
        return PeerPolicy::Anyone;
    }
    let mut uids = vec![0, rustix::process::geteuid().as_raw()];
    uids.extend(&args.allow_uids);
    uids.sort_unstable();
    uids.dedup();
    PeerPolicy::LocalUids(uids)
}

/// Why the USB/IP port cannot be had, and what to try: the next port up
/// (and the matching `usbip --tcp-port`) when this one is taken.
fn listen_error(args: &ServeArgs, error: std::io::Error) -> anyhow::Error {
    let listen = args.listen();
    if error.kind() != std::io::ErrorKind::AddrInUse {
        return anyhow::Error::new(error).context(format!("cannot listen on {listen}"));
    }
    let mut next = listen;
    next.set_port(listen.port().checked_add(1).unwrap_or(DEFAULT_PORT));
    anyhow::Error::new(error).context(format!(
        "cannot listen on {listen}: another softkey or usbipd uses the port; try --listen {next} \
         (then attach with `sudo usbip --tcp-port {} attach ...`)",
        next.port()
    ))
}

fn port_flag(port: u16) -> String {
    if port == DEFAULT_PORT {
        String::new()
    } else {
        format!("--tcp-port {port} ")
    }
}

fn host_for(addr: std::net::SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        "<this machine's address>".into()
    } else {
        addr.ip().to_string()
    }
}

/// `--attestation` and `--enterprise-rp`, written to the store so they persist.
fn apply_attestation_settings(args: &ServeArgs, store: &mut Backing) -> Result<()> {
    use softkey_authenticator::{AttestationMode, set_attestation_mode, set_enterprise_rp_ids};
    if let Some(mode) = args.attestation {
        let mode = match mode {
            crate::cli::AttestationArg::SelfAttestation => AttestationMode::SelfAttestation,
            crate::cli::AttestationArg::Batch => AttestationMode::Batch,
        };
        set_attestation_mode(store, mode).context("saving the attestation mode")?;
    }
    if !args.enterprise_rps.is_empty() {
        set_enterprise_rp_ids(store, &args.enterprise_rps)
            .context("saving the enterprise attestation RP ids")?;
    }
    Ok(())
}

/// A per-vault random USB serial number, kept so the host sees the same key each time.
fn usb_serial(store: &mut Backing) -> Result<String> {
    use softkey_authenticator::{Store, store_keys};
    if let Some(serial) = store.get(store_keys::USB_SERIAL)? {
        return Ok(String::from_utf8_lossy(&serial).into_owned());
    }
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).context("the OS random number generator failed")?;
    let serial = to_hex(&bytes).to_uppercase();
    store.put(store_keys::USB_SERIAL, serial.as_bytes())?;
    Ok(serial)
}
