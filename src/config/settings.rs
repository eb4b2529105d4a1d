//! Every setting of the configuration file, declared once ([`SETTINGS`]):
//! its key, what it accepts, how the file's value parses, the flag of each
//! command that has it, the environment variable that may set it, and what
//! leaving it unset means. A new setting of an existing kind is one row here
//! (plus its flag in `cli.rs`); `apply`, the parser, the error messages and
//! `softkey config` all read the table.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use toml::de::DeValue;

use super::Value;
use crate::cli::{
    AlgorithmList, AttestationArg, Command, DEFAULT_LISTEN, DEFAULT_PRESENCE,
    DEFAULT_PROMPT_TIMEOUT_SECS, PresenceMode, TransportArg, VaultArgs, default_algorithms,
};

pub const CONTROL_SOCKET_ENV: &str = "SOFTKEY_CONTROL_SOCKET";
/// `--prompt-timeout` bounds, the same as the flag's (cli.rs).
const PROMPT_TIMEOUT_SECS: RangeInclusive<u64> = 1..=600;

/// One setting.
pub(super) struct Def {
    pub key: &'static str,
    /// What the file may hold, for error messages.
    pub accepts: &'static str,
    pub kind: Kind,
    /// An environment variable that sets the flag (clap's `env`).
    pub env: Option<&'static str>,
    /// The running command's flag for it; `None` when the command has none.
    pub slot: for<'a> fn(&'a mut Command) -> Option<Slot<'a>>,
    /// What an unset value means, as `softkey config` shows it.
    pub unset: fn() -> Value,
}

/// Every setting, in the order `softkey config` lists them.
pub(super) const SETTINGS: [Def; 10] = [
    Def {
        key: "vault",
        accepts: "a path to the vault file",
        kind: Kind::Path,
        env: None,
        slot: |command| match command {
            Command::Status(a) => Some(Slot::Path(&mut a.vault)),
            other => vault_args(other).map(|v| Slot::Path(&mut v.vault)),
        },
        unset: || {
            crate::paths::default_vault_path()
                .map_or(Value::Unset("none: set HOME or XDG_DATA_HOME"), |p| {
                    Value::Text(p.display().to_string())
                })
        },
    },
    Def {
        key: "passphrase_file",
        accepts: "a path to a file holding the vault passphrase",
        kind: Kind::Path,
        env: None,
        slot: |command| vault_args(command).map(|v| Slot::Path(&mut v.passphrase_file)),
        unset: || Value::Unset("asked on the terminal"),
    },
    Def {
        key: "transport",
        accepts: "\"usbip\" or \"uhid\"",
        kind: Kind::Transport,
        env: None,
        slot: |command| match command {
            Command::Serve(a) => Some(Slot::Transport(&mut a.transport)),
            _ => None,
        },
        unset: || Value::Text(value_name(&TransportArg::Usbip)),
    },
    Def {
        key: "listen",
        accepts: "\"ADDR:PORT\", e.g. \"127.0.0.1:3240\"",
        kind: Kind::Addr,
        env: None,
        slot: |command| match command {
            Command::Serve(a) => Some(Slot::Addr(&mut a.listen)),
            _ => None,
        },
        unset: || Value::Text(DEFAULT_LISTEN.to_owned()),
    },
    Def {
        key: "allow_remote",
        accepts: "true or false",
        kind: Kind::Flag,
        env: None,
        slot: |command| match command {
            Command::Serve(a) => Some(Slot::Flag(&mut a.allow_remote)),
            _ => None,
        },
        unset: || Value::Bool(false),
    },
    Def {
        key: "presence",
        accepts: "one of \"tty\", \"notify\", \"socket\", \"auto\", \"deny\"",
        kind: Kind::Presence,
        env: None,
        slot: |command| match command {
            Command::Serve(a) => Some(Slot::Presence(&mut a.presence)),
            _ => None,
        },
        unset: || Value::Text(value_name(&DEFAULT_PRESENCE)),
    },
    Def {
        key: "prompt_timeout",
        accepts: "a number of seconds from 1 to 600",
        kind: Kind::Seconds(PROMPT_TIMEOUT_SECS),
        env: None,
        slot: |command| match command {
            Command::Serve(a) => Some(Slot::Seconds(&mut a.prompt_timeout)),
            _ => None,
        },
        unset: || Value::Number(DEFAULT_PROMPT_TIMEOUT_SECS),
    },
    Def {
        key: "attestation",
        accepts: "\"self\" or \"batch\"",
        kind: Kind::Attestation,
        env: None,
        slot: |command| match command {
            Command::Serve(a) => Some(Slot::Attestation(&mut a.attestation)),
            _ => None,
        },
        unset: || Value::Unset("as the vault remembers it; self for a new vault"),
    },
    Def {
        key: "algorithms",
        accepts: "\"all\" or a list of COSE names, e.g. [\"ES256\", \"EdDSA\", \"ES384\"]",
        kind: Kind::Algorithms,
        env: None,
        slot: |command| match command {
            Command::Serve(a) => Some(Slot::Algorithms(&mut a.algorithms)),
            _ => None,
        },
        unset: || Value::Text(default_algorithms().display()),
    },
    Def {
        key: "control_socket",
        accepts: "a path to the control socket",
        kind: Kind::Path,
        env: Some(CONTROL_SOCKET_ENV),
        slot: |command| {
            let control = match command {
                Command::Config(a) => &mut a.control,
                Command::Serve(a) => &mut a.control,
                Command::Status(a) => &mut a.control,
                Command::Approve(a) | Command::Deny(a) => &mut a.control,
                Command::Pending(a) => &mut a.control,
                _ => return None,
            };
            Some(Slot::Path(&mut control.control_socket))
        },
        unset: || {
            Value::Text(format!(
                "{}/NAME-HASH.sock (one per vault, named after it)",
                crate::paths::socket_dir().display()
            ))
        },
    },
];

/// The setting a file key names.
pub(super) fn def(key: &str) -> Option<&'static Def> {
    SETTINGS.iter().find(|def| def.key == key)
}

/// The vault flags of a command that opens a vault (`serve --ephemeral`
/// opens none: the flags conflict with it).
fn vault_args(command: &mut Command) -> Option<&mut VaultArgs> {
    match command {
        Command::Init(a) => Some(&mut a.vault),
        Command::List(a) => Some(&mut a.vault),
        Command::AttestationCa(a) => Some(&mut a.vault),
        Command::Export(a) => Some(&mut a.vault),
        Command::Import(a) => Some(&mut a.vault),
        Command::Passphrase(a) => Some(&mut a.vault),
        Command::Delete(a) => Some(&mut a.vault),
        Command::Config(a) => Some(&mut a.vault),
        Command::Serve(a) if !a.ephemeral => Some(&mut a.vault),
        _ => None,
    }
}

/// What a setting holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    /// `~` is the home directory; relative paths are relative to the file.
    Path,
    Addr,
    /// A bool flag: given means on, so the file can only turn it on as well.
    Flag,
    Presence,
    Transport,
    Seconds(RangeInclusive<u64>),
    Attestation,
    Algorithms,
}

/// A value from the file, parsed for its setting's kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Parsed {
    Path(PathBuf),
    Addr(SocketAddr),
    Flag(bool),
    Presence(PresenceMode),
    Transport(TransportArg),
    Seconds(u64),
    Attestation(AttestationArg),
    Algorithms(AlgorithmList),
}

impl Kind {
    /// The file's value as this kind accepts it; `None` if it does not.
    pub(super) fn parse(&self, value: &DeValue<'_>, dir: &Path) -> Option<Parsed> {
        Some(match self {
            Kind::Path => Parsed::Path(path_value(value, dir)?),
            Kind::Addr => Parsed::Addr(value.as_str()?.parse().ok()?),
            Kind::Flag => Parsed::Flag(value.as_bool()?),
            Kind::Presence => Parsed::Presence(enum_value(value)?),
            Kind::Transport => Parsed::Transport(enum_value(value)?),
            Kind::Seconds(range) => Parsed::Seconds(
                value
                    .as_integer()
                    .filter(|i| i.radix() == 10)
                    .and_then(|i| i.as_str().parse::<u64>().ok())
                    .filter(|s| range.contains(s))?,
            ),
            Kind::Attestation => Parsed::Attestation(enum_value(value)?),
            Kind::Algorithms => Parsed::Algorithms(algorithms_value(value)?),
        })
    }

    /// Storage for a setting the running command has no flag for, so that
    /// `softkey config` still shows its value.
    pub(super) fn scratch(&self) -> Held {
        match self {
            Kind::Path => Held::Path(None),
            Kind::Addr => Held::Addr(None),
            Kind::Flag => Held::Flag(false),
            Kind::Presence => Held::Presence(None),
            Kind::Transport => Held::Transport(None),
            Kind::Seconds(_) => Held::Seconds(None),
            Kind::Attestation => Held::Attestation(None),
            Kind::Algorithms => Held::Algorithms(None),
        }
    }
}

/// An owned value of a setting the command lacks (see [`Kind::scratch`]).
pub(super) enum Held {
    Path(Option<PathBuf>),
    Addr(Option<SocketAddr>),
    Flag(bool),
    Presence(Option<PresenceMode>),
    Transport(Option<TransportArg>),
    Seconds(Option<u64>),
    Attestation(Option<AttestationArg>),
    Algorithms(Option<AlgorithmList>),
}

impl Held {
    pub(super) fn slot(&mut self) -> Slot<'_> {
        match self {
            Held::Path(v) => Slot::Path(v),
            Held::Addr(v) => Slot::Addr(v),
            Held::Flag(v) => Slot::Flag(v),
            Held::Presence(v) => Slot::Presence(v),
            Held::Transport(v) => Slot::Transport(v),
            Held::Seconds(v) => Slot::Seconds(v),
            Held::Attestation(v) => Slot::Attestation(v),
            Held::Algorithms(v) => Slot::Algorithms(v),
        }
    }
}

/// A command's flag for one setting.
pub(super) enum Slot<'a> {
    Path(&'a mut Option<PathBuf>),
    Addr(&'a mut Option<SocketAddr>),
    Flag(&'a mut bool),
    Presence(&'a mut Option<PresenceMode>),
    Transport(&'a mut Option<TransportArg>),
    Seconds(&'a mut Option<u64>),
    Attestation(&'a mut Option<AttestationArg>),
    Algorithms(&'a mut Option<AlgorithmList>),
}

impl Slot<'_> {
    /// Whether the command line (or the environment) gave the flag.
    pub(super) fn given(&self) -> bool {
        match self {
            Slot::Path(v) => v.is_some(),
            Slot::Addr(v) => v.is_some(),
            Slot::Flag(v) => **v,
            Slot::Presence(v) => v.is_some(),
            Slot::Transport(v) => v.is_some(),
            Slot::Seconds(v) => v.is_some(),
            Slot::Attestation(v) => v.is_some(),
            Slot::Algorithms(v) => v.is_some(),
        }
    }

    /// Whether the given value is the environment variable's value (so the
    /// source is the environment, not the command line).
    pub(super) fn is_env_value(&self, env: &OsStr) -> bool {
        match self {
            Slot::Path(Some(path)) => path.as_os_str() == env,
            _ => false,
        }
    }

    /// Writes the file's value into the flag.
    pub(super) fn fill(&mut self, parsed: &Parsed) {
        match (self, parsed) {
            (Slot::Path(v), Parsed::Path(p)) => **v = Some(p.clone()),
            (Slot::Addr(v), Parsed::Addr(a)) => **v = Some(*a),
            (Slot::Flag(v), Parsed::Flag(b)) => **v = *b,
            (Slot::Presence(v), Parsed::Presence(p)) => **v = Some(*p),
            (Slot::Transport(v), Parsed::Transport(t)) => **v = Some(*t),
            (Slot::Seconds(v), Parsed::Seconds(s)) => **v = Some(*s),
            (Slot::Attestation(v), Parsed::Attestation(a)) => **v = Some(*a),
            (Slot::Algorithms(v), Parsed::Algorithms(a)) => **v = Some(a.clone()),
            // The parser gave this setting a value of its own kind.
            _ => {}
        }
    }

    /// The effective value, `None` while unset.
    pub(super) fn value(&self) -> Option<Value> {
        match self {
            Slot::Path(v) => v.as_ref().map(|p| Value::Text(p.display().to_string())),
            Slot::Addr(v) => v.map(|a| Value::Text(a.to_string())),
            Slot::Flag(v) => Some(Value::Bool(**v)),
            Slot::Presence(v) => v.as_ref().map(|p| Value::Text(value_name(p))),
            Slot::Transport(v) => v.as_ref().map(|t| Value::Text(value_name(t))),
            Slot::Seconds(v) => v.map(Value::Number),
            Slot::Attestation(v) => v.as_ref().map(|a| Value::Text(value_name(a))),
            Slot::Algorithms(v) => v.as_ref().map(|a| Value::Text(a.display())),
        }
    }
}

/// A path string: `~` or `~/…` is the home directory; relative to `dir` otherwise.
fn path_value(value: &DeValue<'_>, dir: &Path) -> Option<PathBuf> {
    let text = value.as_str().filter(|s| !s.is_empty())?;
    let home = || {
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
    };
    let path = if text == "~" {
        home()?
    } else if let Some(rest) = text.strip_prefix("~/") {
        home()?.join(rest)
    } else {
        PathBuf::from(text)
    };
    Some(if path.is_absolute() {
        path
    } else {
        dir.join(path)
    })
}

/// `"all"`, a comma-separated string, or an array of COSE names.
fn algorithms_value(value: &DeValue<'_>) -> Option<AlgorithmList> {
    if let Some(text) = value.as_str() {
        return AlgorithmList::parse(text).ok();
    }
    let names: Option<Vec<&str>> = value
        .as_array()?
        .iter()
        .map(|v| v.get_ref().as_str())
        .collect();
    AlgorithmList::from_names(names?.into_iter()).ok()
}

/// A string naming one of a clap value enum's values (the flag's spelling).
fn enum_value<T: ValueEnum>(value: &DeValue<'_>) -> Option<T> {
    T::from_str(value.as_str()?, false).ok()
}

/// The spelling of a clap value enum's value, as the flag takes it.
pub fn value_name<T: ValueEnum>(value: &T) -> String {
    value
        .to_possible_value()
        .map_or_else(String::new, |p| p.get_name().to_owned())
}
