//! The command-line contract. Later issues and scripts rely on these names.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use softkey_authenticator::{Algorithm, DEFAULT_ALGORITHMS, SUPPORTED_ALGORITHMS};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:3240";

#[derive(Debug, Parser)]
#[command(
    name = "softkey",
    version,
    about = "A software FIDO2/WebAuthn security key, attached to the host over USB/IP",
    long_about = "A software FIDO2/WebAuthn security key. `softkey serve` unlocks an encrypted \
vault and exports a USB HID security key over USB/IP; attach it with `usbip attach` and use it \
from browsers, libfido2, OpenSSH or python-fido2 like any hardware key.",
    after_help = "Quick start:\n  softkey init\n  softkey serve\n  sudo modprobe vhci-hcd && sudo usbip attach -r 127.0.0.1 -b 1-1"
)]
pub struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Configuration file [default: $XDG_CONFIG_HOME/softkey/config.toml]. Flags override it.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "SOFTKEY_CONFIG",
        hide_env_values = true
    )]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new encrypted vault.
    #[command(after_help = "Example:\n  softkey init --vault ~/keys/work.softkey")]
    Init(InitArgs),
    /// Unlock the vault and serve the key over USB/IP (or as a Linux uhid device).
    #[command(
        after_help = "Settings not given as flags come from the configuration file (see `softkey config`).\n\nExamples:\n  softkey serve\n  softkey serve --presence notify\n  softkey serve --presence socket        # then: softkey pending; softkey approve\n  softkey serve --ephemeral --presence auto --listen 127.0.0.1:3241\n  softkey serve --transport uhid         # through `softkey uhid-relay` (docs/linux.md)\n  sudo softkey serve --transport uhid --uhid-device /dev/uhid"
    )]
    Serve(ServeArgs),
    /// As root: give allowed users' `softkey serve --transport uhid` a HID device each.
    #[command(
        long_about = "Run as root (contrib/softkey-uhid-relay.service): listen on a Unix socket and, for each \
connection from a user named by --allow-user (checked by the connecting process's uid, SO_PEERCRED), \
create one FIDO HID device through /dev/uhid and relay its 64-byte reports, nothing else. The \
client chooses nothing about the device (descriptor, name, ids are fixed); closing the connection \
removes it. Connections from other users are closed at once. This keeps write access to /dev/uhid, \
which could create a keyboard, with root (docs/linux.md \"The uhid relay\").",
        after_help = "Example:\n  sudo softkey uhid-relay --allow-user alice\n  softkey serve --transport uhid           # as alice"
    )]
    UhidRelay(UhidRelayArgs),
    /// List the discoverable credentials (passkeys) in the vault.
    #[command(after_help = "Example:\n  softkey list --json")]
    List(ListArgs),
    /// Print the attestation CA certificate (PEM) for relying parties to trust.
    #[command(after_help = "Example:\n  softkey attestation-ca > softkey-ca.pem")]
    AttestationCa(AttestationCaArgs),
    /// Write an encrypted backup of the passkeys (CXF-shaped, own passphrase).
    #[command(
        long_about = "Write an encrypted backup of every discoverable credential (passkey), in the \
shape of the FIDO Credential Exchange Format, sealed under a backup passphrase of its own \
(Argon2id + AES-256-GCM). It also carries what a restore needs so that nothing breaks: the keys \
behind non-discoverable credentials and the signature counter. The PIN is not exported. Stop \
`softkey serve` first: the vault is opened by one process at a time.",
        after_help = "Example:\n  softkey export ~/backups/softkey-2026-11.skbackup"
    )]
    Export(ExportArgs),
    /// Merge an encrypted backup into the vault.
    #[command(
        long_about = "Merge an encrypted backup written by `softkey export` (or another CXF \
passkey export sealed the same way) into the vault. A passkey whose credential id is already in \
the vault is kept as it is and reported. A wrong passphrase or a damaged file changes nothing. \
The signature counter continues above the backup's, so relying parties never see it go back.",
        after_help = "Examples:\n  softkey import ~/backups/softkey-2026-11.skbackup\n  softkey init --vault new.softkey && softkey import --vault new.softkey backup.skbackup"
    )]
    Import(ImportArgs),
    /// Change the vault passphrase (without other key slots, also its data key: every
    /// credential is re-encrypted).
    #[command(after_help = "Example:\n  softkey passphrase")]
    Passphrase(PassphraseArgs),
    /// List, add or remove the vault's key slots: passphrase, recovery key, TPM, keyring.
    #[command(
        long_about = "List, add or remove the vault's key slots (vault/FORMAT.md \"Key slots\"). \
Each slot opens the same vault: the passphrase; a recovery key printed once; the TPM of this \
machine, optionally bound to PCR values and/or a TPM PIN, which opens it with nobody typing; the \
desktop keyring (Secret Service), which opens it while the desktop session is unlocked. The last \
passphrase or recovery-key slot cannot be removed. Stop `softkey serve` first.",
        after_help = "Examples:\n  softkey slot list\n  softkey slot add recovery-key\n  softkey slot add tpm --tpm-pcrs 7\n  softkey slot add keyring\n  softkey slot remove tpm"
    )]
    Slot(SlotArgs),
    /// Show whether the key is being served, where, and what it is waiting for.
    #[command(
        after_help = "Exit status: 0 when a softkey serve answers on the control socket, 3 when \
none runs (the text then names the vault it would use), 1 on other errors.\n\nExamples:\n  \
softkey status\n  softkey status --json"
    )]
    Status(StatusArgs),
    /// Delete a passkey from the vault (with softkey serve stopped).
    #[command(
        after_help = "Examples:\n  softkey delete --rp github.com --user alice\n  softkey delete 9f86d081884c7d65 --yes"
    )]
    Delete(DeleteArgs),
    /// Approve the request waiting at a `serve --presence socket` key.
    #[command(after_help = "Examples:\n  softkey approve\n  softkey approve 7")]
    Approve(AnswerArgs),
    /// Refuse the request waiting at a `serve --presence socket` key.
    #[command(after_help = "Example:\n  softkey deny")]
    Deny(AnswerArgs),
    /// Show the request waiting for approval at a `serve --presence socket` key.
    #[command(after_help = "Examples:\n  softkey pending\n  softkey pending --wait --json")]
    Pending(PendingArgs),
    /// Serve ephemeral virtual authenticators for relying-party tests, driven
    /// by an HTTP API shaped like the W3C WebDriver virtual authenticators.
    #[command(
        after_help = "Examples:\n  softkey lab serve &\n  ID=$(softkey lab add)\n  sudo usbip --tcp-port 3340 attach -r 127.0.0.1 -b $ID\n  echo 123456 | softkey lab pin $ID\n  softkey lab touch $ID"
    )]
    Lab(LabArgs),
    /// Run the conformance catalog against a FIDO key: softkey or any other.
    #[command(
        long_about = "Run the conformance catalog (checks in the FIDO test families, each written from the CTAP 2.1/2.2 text) against a FIDO key reached over USB/IP (HOST:PORT, optionally /BUSID; no kernel module needed) or at /dev/hidrawN. Each check reports pass, fail with what the key answered, or not applicable with the getInfo fact that makes it so. Checks that change the key for good (reset, PIN) run only with --destructive.",
        after_help = "Examples:
  softkey conformance 127.0.0.1:3240
  softkey conformance /dev/hidraw3 --only getinfo,hid
  softkey conformance 127.0.0.1:3341/1-2 --junit target/conformance.xml --expectations peer.json"
    )]
    Conformance(ConformanceArgs),
    /// Print the effective configuration and where each value came from.
    #[command(after_help = "Example:\n  softkey config")]
    Config(ConfigArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  softkey completions bash > ~/.local/share/bash-completion/completions/softkey\n  softkey completions zsh > ~/.zfunc/_softkey"
    )]
    Completions(CompletionsArgs),
    /// Write the manual pages: softkey(1) and one per subcommand (roff).
    #[command(
        after_help = "Examples:\n  softkey man --dir ~/.local/share/man/man1   # then: man softkey-serve\n  softkey man | man -l -                      # read them without installing"
    )]
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct SlotArgs {
    #[command(subcommand)]
    pub command: SlotCommand,
}

/// `softkey slot` verbs.
#[derive(Debug, Subcommand)]
pub enum SlotCommand {
    /// List the slots (needs no passphrase).
    List {
        #[command(flatten)]
        vault: VaultArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Add a slot, or replace the one of that kind.
    Add(SlotAddArgs),
    /// Remove the slot of a kind (never the last passphrase or recovery key).
    Remove {
        /// Which slot.
        kind: SlotKindArg,
        #[command(flatten)]
        vault: VaultArgs,
    },
}

#[derive(Debug, Args)]
pub struct SlotAddArgs {
    /// What the new slot opens with.
    pub kind: SlotKindArg,

    #[command(flatten)]
    pub vault: VaultArgs,

    /// tpm: bind the key to these PCRs of the SHA-256 bank as they are now, e.g. 7 (Secure
    /// Boot state) or 0,2,4,7; a firmware, boot-loader or kernel change then needs the
    /// passphrase once and a new enrolment.
    #[arg(long, value_delimiter = ',', value_name = "PCRS", value_parser = clap::value_parser!(u8).range(0..24))]
    pub tpm_pcrs: Vec<u8>,

    /// tpm: also ask for a TPM PIN at every unlock (the TPM locks out guessing).
    #[arg(long)]
    pub tpm_pin: bool,

    /// tpm: read the TPM PIN from this file (first line) instead of the terminal.
    #[arg(long, value_name = "FILE", requires = "tpm_pin")]
    pub tpm_pin_file: Option<PathBuf>,

    /// passphrase: read the new passphrase from this file instead of the terminal.
    #[arg(long, value_name = "FILE")]
    pub new_passphrase_file: Option<PathBuf>,

    #[command(flatten)]
    pub kdf: KdfArgs,
}

/// The kinds of key slot, as `slot add` and `slot remove` name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SlotKindArg {
    /// The vault passphrase.
    Passphrase,
    /// A random recovery key, printed once.
    RecoveryKey,
    /// This machine's TPM 2.0.
    Tpm,
    /// The desktop keyring (freedesktop.org Secret Service).
    Keyring,
}

#[derive(Debug, Args)]
pub struct ConformanceArgs {
    /// The key: HOST:PORT[/BUSID] of a USB/IP server, or /dev/hidrawN.
    pub target: String,
    /// Only these checks: ids, id prefixes or family names, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Leave out these checks (ids, prefixes or families).
    #[arg(long, value_delimiter = ',')]
    pub skip: Vec<String>,
    /// Also run the checks that change the key for good (reset, PIN set and change, lockout).
    #[arg(long)]
    pub destructive: bool,
    /// A JSON file of {"check id": "why this key fails it"}: those failures are expected.
    #[arg(long, value_name = "FILE")]
    pub expectations: Option<std::path::PathBuf>,
    /// Print the run as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also write a JUnit XML report to FILE (for CI systems).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<std::path::PathBuf>,
    /// Also write a Markdown report to FILE (for publishing).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<std::path::PathBuf>,
    /// List the checks (id, family, spec, what each sends and expects) and run nothing.
    #[arg(long)]
    pub list: bool,
    /// An RP id the key lists for vendor-facilitated enterprise attestation
    /// (softkey: `serve --enterprise-rp`), for the enterprise checks.
    #[arg(long, value_name = "RP_ID")]
    pub ep_rp_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct LabArgs {
    #[command(subcommand)]
    pub command: LabCommand,
}

/// `softkey lab` verbs: `serve`, and a client of a running lab's API for
/// each control a shell script needs.
#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Serve the lab: USB/IP and the HTTP API, until stopped.
    Serve(LabServeArgs),
    /// Add an authenticator; prints its id, which is its bus id.
    Add {
        /// Its options as a JSON object of W3C / CDP names, e.g. '{"isUserConsenting": false}'.
        #[arg(long, value_name = "JSON", default_value = "{}")]
        options: String,
        #[command(flatten)]
        api: LabApiArgs,
    },
    /// List the authenticators and their options (JSON).
    List {
        #[command(flatten)]
        api: LabApiArgs,
    },
    /// Remove an authenticator (an attached host sees it unplugged).
    Remove {
        id: String,
        #[command(flatten)]
        api: LabApiArgs,
    },
    /// Touch an authenticator: approve the test of presence it waits on.
    Touch {
        id: String,
        #[command(flatten)]
        api: LabApiArgs,
    },
    /// Set the PIN (read from standard input) or, with --clear, remove it;
    /// with --retries alone, set how many PIN retries are left.
    Pin {
        id: String,
        /// Remove the PIN instead.
        #[arg(long, conflicts_with = "retries")]
        clear: bool,
        /// pinRetries, 0 to 8 (0 blocks the PIN), of a key with a PIN.
        #[arg(long, value_parser = clap::value_parser!(u8).range(0..=8))]
        retries: Option<u8>,
        #[command(flatten)]
        api: LabApiArgs,
    },
    /// Reset an authenticator: credentials, PIN and settings gone.
    Reset {
        id: String,
        #[command(flatten)]
        api: LabApiArgs,
    },
    /// Print an authenticator's credentials (JSON, private keys included).
    Credentials {
        id: String,
        #[command(flatten)]
        api: LabApiArgs,
    },
}

#[derive(Debug, Args)]
pub struct LabServeArgs {
    /// Where the USB/IP server listens (loopback only; port 0 picks a free one).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3340")]
    pub listen: SocketAddr,

    /// Where the HTTP API listens (loopback only; port 0 picks a free one).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3341")]
    pub api: SocketAddr,

    /// Where to write the API token [default: $XDG_RUNTIME_DIR/softkey/lab-token].
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
}

/// Where a running lab's API is, and its token.
#[derive(Debug, Args)]
pub struct LabApiArgs {
    /// The lab's API address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3341")]
    pub api: SocketAddr,

    /// The lab's token file [default: $XDG_RUNTIME_DIR/softkey/lab-token].
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write each page to its own file in DIR (softkey.1, softkey-init.1, ...),
    /// as `man` finds them; without it, print every page to standard output.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Where `serve` listens for `approve`, `deny`, `pending` and `status`.
#[derive(Debug, Args)]
pub struct ControlArgs {
    /// The control socket [default: one per vault, named after it, in
    /// $XDG_RUNTIME_DIR/softkey/, else /tmp/softkey-$UID/].
    #[arg(
        long,
        value_name = "PATH",
        env = "SOFTKEY_CONTROL_SOCKET",
        hide_env_values = true
    )]
    pub control_socket: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub control: ControlArgs,

    /// The vault to describe when no key is being served (every running key
    /// is shown).
    #[arg(long, value_name = "PATH")]
    pub vault: Option<PathBuf>,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The credential id (hex, as the ID column of `softkey list` shows its
    /// start; a unique prefix will do).
    #[arg(value_name = "CREDENTIAL_ID", required_unless_present_any = ["rp", "user"])]
    pub credential: Option<String>,

    /// Delete the passkeys of this RP id (with --user: only that account).
    #[arg(long, value_name = "RP_ID")]
    pub rp: Option<String>,

    /// Delete the passkeys with this user name (with --rp: on that site only).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,

    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,

    #[command(flatten)]
    pub vault: VaultArgs,

    /// Print what was deleted as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AnswerArgs {
    /// The request id `softkey pending` shows [default: the one waiting].
    #[arg(value_name = "ID")]
    pub id: Option<u64>,

    /// The key serving this vault [default: the one key being served, or
    /// the one of several with --presence socket].
    #[arg(long, value_name = "PATH")]
    pub vault: Option<PathBuf>,

    #[command(flatten)]
    pub control: ControlArgs,
}

#[derive(Debug, Args)]
pub struct PendingArgs {
    #[command(flatten)]
    pub control: ControlArgs,

    /// The key serving this vault [default: the one key being served, or
    /// the one of several with --presence socket].
    #[arg(long, value_name = "PATH")]
    pub vault: Option<PathBuf>,

    /// Wait until a request arrives instead of answering at once.
    #[arg(long)]
    pub wait: bool,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_long_help = concat!(
    "The configuration file:\n",
    "  # TOML; every key is optional; flags and environment variables override it.\n",
    "  vault = \"~/keys/work.softkey\"     # ~ is your home; relative paths start at the file\n",
    "  passphrase_file = \"~/.config/softkey/passphrase\"\n",
    "  transport = \"usbip\"               # or \"uhid\", through softkey uhid-relay\n",
    "  listen = \"127.0.0.1:3240\"         # ADDR:PORT (usbip)\n",
    "  allow_remote = false              # true allows a non-loopback listen address\n",
    "  presence = \"tty\"                  # tty, notify, socket, auto or deny\n",
    "  prompt_timeout = 30               # seconds, 1 to 600\n",
    "  attestation = \"self\"              # self or batch\n",
    "  algorithms = [\"ES256\", \"EdDSA\"]   # or \"all\"; ES384, ES512, ES256K, ML-DSA-44/65/87\n",
    "  control_socket = \"/run/user/1000/softkey/control.sock\"\n",
    "  # Read from --config FILE, $SOFTKEY_CONFIG, $XDG_CONFIG_HOME/softkey/config.toml\n",
    "  # or ~/.config/softkey/config.toml, whichever comes first.\n\n",
    "Examples:\n  softkey config\n  softkey config --json"
))]
pub struct ConfigArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub vault: VaultArgs,

    #[command(flatten)]
    pub control: ControlArgs,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct VaultArgs {
    /// The vault file [default: $XDG_DATA_HOME/softkey/vault.softkey]
    #[arg(long, value_name = "PATH")]
    pub vault: Option<PathBuf>,

    /// Read the vault passphrase (or recovery key) from this file (first line) instead of the
    /// terminal. Not needed when the vault has a TPM or keyring slot that opens it: those are
    /// tried first (`softkey slot`).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

/// Argon2id cost. What neither flag fixes is calibrated on this machine so
/// that one unlock takes about 0.5–1 s (at least 64 MiB).
#[derive(Debug, Args)]
pub struct KdfArgs {
    /// Argon2id memory in MiB, 8 to 4096 [default: calibrated on this
    /// machine: 64 MiB or more].
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u32).range(8..=4096))]
    pub kdf_memory_mib: Option<u32>,

    /// Argon2id passes over memory, 1 to 64 [default: calibrated on this
    /// machine: 1 to 8, for 0.5 to 1 s per unlock].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub kdf_iterations: Option<u32>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub vault: VaultArgs,

    #[command(flatten)]
    pub kdf: KdfArgs,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The backup file to write (refuses to replace an existing file without --force).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    #[command(flatten)]
    pub vault: VaultArgs,

    /// Read the backup's own passphrase from this file instead of the terminal.
    #[arg(long, value_name = "FILE")]
    pub backup_passphrase_file: Option<PathBuf>,

    #[command(flatten)]
    pub kdf: KdfArgs,

    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The backup file written by `softkey export`.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    #[command(flatten)]
    pub vault: VaultArgs,

    /// Read the backup's passphrase from this file instead of the terminal.
    #[arg(long, value_name = "FILE")]
    pub backup_passphrase_file: Option<PathBuf>,

    /// Run the backup's Argon2id even if it costs more than any `softkey
    /// export` picks by itself (1 GiB, 8 passes): only for a backup you
    /// sealed with larger --kdf-memory-mib / --kdf-iterations yourself.
    #[arg(long)]
    pub trust_kdf_cost: bool,

    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PassphraseArgs {
    #[command(flatten)]
    pub vault: VaultArgs,

    /// Read the new passphrase from this file instead of the terminal.
    #[arg(long, value_name = "FILE")]
    pub new_passphrase_file: Option<PathBuf>,

    #[command(flatten)]
    pub kdf: KdfArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PresenceMode {
    /// Ask on this terminal, naming the site, the account and the operation.
    Tty,
    /// A desktop notification with Approve and Deny buttons (freedesktop D-Bus).
    Notify,
    /// Wait for `softkey approve` / `softkey deny` from another terminal.
    Socket,
    /// Approve every request (for tests and scripted relying-party checks).
    Auto,
    /// Refuse every request.
    Deny,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub vault: VaultArgs,

    /// Serve an in-memory vault that is gone when the process ends (no passphrase).
    #[arg(long, conflicts_with_all = ["vault", "passphrase_file"])]
    pub ephemeral: bool,

    /// Address and port to listen on (port 0 picks a free one) [default: 127.0.0.1:3240].
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,

    /// How the host sees the key [default: usbip]: `usbip`, a USB device to
    /// attach with `usbip attach`, or `uhid`, a HID device that appears at
    /// once, made by `softkey uhid-relay` (or by this process with
    /// --uhid-device). --listen, --allow-remote and --allow-uid are USB/IP's.
    #[arg(long, value_enum, value_name = "TRANSPORT")]
    pub transport: Option<TransportArg>,

    /// With --transport uhid: the relay's socket [default: /run/softkey/uhid.sock].
    #[arg(long, value_name = "SOCKET", conflicts_with = "uhid_device")]
    pub uhid_relay: Option<PathBuf>,

    /// With --transport uhid: create the device on this uhid node yourself
    /// instead of through the relay (normally /dev/uhid, which only root may
    /// open; docs/linux.md says why it should stay that way).
    #[arg(long, value_name = "PATH")]
    pub uhid_device: Option<PathBuf>,

    /// Allow a non-loopback --listen address. USB/IP has no authentication:
    /// anyone who reaches the port can use the key.
    #[arg(long)]
    pub allow_remote: bool,

    /// Another local user (uid or name) whose connections the key accepts
    /// (repeatable). On loopback only root (`sudo usbip attach`) and the user
    /// running `serve` are served; every other user's connection is closed.
    #[arg(long = "allow-uid", value_name = "USER", value_parser = parse_user)]
    pub allow_uids: Vec<u32>,

    /// How user presence is confirmed [default: tty].
    #[arg(long, value_enum)]
    pub presence: Option<PresenceMode>,

    /// Seconds the user has to answer a prompt [default: 30].
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=600))]
    pub prompt_timeout: Option<u64>,

    #[command(flatten)]
    pub control: ControlArgs,

    /// Attestation for new credentials, remembered in the vault: `self` (the
    /// default: reveals nothing but the model) or `batch` (packed, signed under
    /// the CA that `softkey attestation-ca` prints).
    #[arg(long, value_enum, value_name = "MODE")]
    pub attestation: Option<AttestationArg>,

    /// An RP id allowed vendor-facilitated enterprise attestation (repeatable;
    /// remembered in the vault). Configuring one offers the `ep` option, which
    /// authenticatorConfig turns on; platform-managed requests then get
    /// enterprise attestation for any RP id.
    #[arg(long = "enterprise-rp", value_name = "RP_ID")]
    pub enterprise_rps: Vec<String>,

    /// The algorithms new credentials may use and getInfo lists, by COSE name,
    /// comma-separated (ES256, EdDSA, ES384, ES512, ES256K, RS256, PS256,
    /// ML-DSA-44, ML-DSA-65, ML-DSA-87), or `all`
    /// [default: ES256,EdDSA]. Whatever the order given, the key prefers them
    /// in that order; credentials of others still sign.
    #[arg(long, value_name = "LIST", value_parser = AlgorithmList::parse)]
    pub algorithms: Option<AlgorithmList>,

    /// Testing only: serve the FIDO Conformance Tools' automation endpoint on
    /// ADDR (loopback; default 127.0.0.1:3000): POST /conformance/userpresence
    /// approves the test of presence waiting (or the next within 10 s),
    /// /conformance/powercycle drops the key's volatile state as an unplug
    /// does, /conformance/results prints the tool's results. Anyone who can
    /// reach ADDR approves presence, so it needs --ephemeral.
    #[arg(
        long,
        value_name = "ADDR",
        num_args = 0..=1,
        default_missing_value = "127.0.0.1:3000",
        requires = "ephemeral",
        conflicts_with = "presence"
    )]
    pub conformance_automation: Option<SocketAddr>,
}

/// A set of credential algorithms (`--algorithms`, `algorithms =`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlgorithmList(pub Vec<Algorithm>);

impl AlgorithmList {
    /// `all`, or COSE names separated by commas (any letter case, spaces
    /// allowed); an unknown or repeated name is an error that lists the known.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().eq_ignore_ascii_case("all") {
            return Ok(AlgorithmList(SUPPORTED_ALGORITHMS.to_vec()));
        }
        Self::from_names(text.split(',').map(str::trim))
    }

    pub fn from_names<'a>(names: impl Iterator<Item = &'a str>) -> Result<Self, String> {
        let mut list = Vec::new();
        for name in names {
            let alg = Algorithm::from_name(name).ok_or_else(|| {
                let known: Vec<&str> = SUPPORTED_ALGORITHMS.iter().map(|a| a.name()).collect();
                format!(
                    "unknown algorithm `{name}`: known are {} (or all)",
                    known.join(", ")
                )
            })?;
            if list.contains(&alg) {
                return Err(format!("`{name}` is listed twice"));
            }
            list.push(alg);
        }
        if list.is_empty() {
            return Err("no algorithm listed".into());
        }
        Ok(AlgorithmList(list))
    }

    /// The names in the key's order of preference, as `softkey config` shows them.
    pub fn display(&self) -> String {
        SUPPORTED_ALGORITHMS
            .iter()
            .filter(|a| self.0.contains(a))
            .map(|a| a.name())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// What getInfo lists when neither `--algorithms` nor the file chooses.
pub fn default_algorithms() -> AlgorithmList {
    AlgorithmList(DEFAULT_ALGORITHMS.to_vec())
}

/// `serve --transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    /// A USB device over USB/IP (`usbip attach`).
    Usbip,
    /// A Linux HID device through uhid (the relay, or --uhid-device).
    Uhid,
}

#[derive(Debug, Args)]
pub struct UhidRelayArgs {
    /// The Unix socket to listen on (mode 0666; users are told apart by uid).
    #[arg(long, value_name = "PATH", default_value = "/run/softkey/uhid.sock")]
    pub socket: PathBuf,

    /// A user (name or uid) whose `softkey serve --transport uhid` gets a
    /// device (repeatable; at least one). Everyone else is refused.
    #[arg(long = "allow-user", value_name = "USER", value_parser = parse_user, required = true)]
    pub allow_users: Vec<u32>,

    /// The uhid node to create devices on.
    #[arg(long, value_name = "PATH", default_value = "/dev/uhid")]
    pub uhid_device: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AttestationArg {
    #[value(name = "self")]
    SelfAttestation,
    Batch,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub vault: VaultArgs,

    /// Print JSON (one array of objects) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AttestationCaArgs {
    #[command(flatten)]
    pub vault: VaultArgs,
}

pub const DEFAULT_PRESENCE: PresenceMode = PresenceMode::Tty;
pub const DEFAULT_PROMPT_TIMEOUT_SECS: u64 = 30;

impl ServeArgs {
    /// `--listen`, else the configuration file's value (filled in by `config::apply`), else
    /// 127.0.0.1:3240.
    pub fn listen(&self) -> SocketAddr {
        self.listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3240)))
    }

    pub fn presence(&self) -> PresenceMode {
        self.presence.unwrap_or(DEFAULT_PRESENCE)
    }

    /// `--algorithms`, else the file's `algorithms`, else ES256 and EdDSA.
    pub fn algorithms(&self) -> AlgorithmList {
        self.algorithms.clone().unwrap_or_else(default_algorithms)
    }

    pub fn prompt_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.prompt_timeout.unwrap_or(DEFAULT_PROMPT_TIMEOUT_SECS))
    }
}

/// A uid, or a user name from /etc/passwd.
fn parse_user(text: &str) -> Result<u32, String> {
    if let Ok(uid) = text.parse::<u32>() {
        return Ok(uid);
    }
    let passwd = std::fs::read_to_string("/etc/passwd")
        .map_err(|e| format!("cannot read /etc/passwd to look up {text:?}: {e}"))?;
    passwd
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let uid = fields.nth(1)?.parse::<u32>().ok()?;
            (name == text).then_some(uid)
        })
        .next()
        .ok_or_else(|| format!("no user {text:?} (give a uid or a name from /etc/passwd)"))
}
