//! The configuration file: TOML at `--config FILE`, `$SOFTKEY_CONFIG`,
//! `$XDG_CONFIG_HOME/softkey/config.toml` or `~/.config/softkey/config.toml`
//! (XDG Base Directory specification). A missing default file means "all
//! defaults"; a file named explicitly must exist.
//!
//! [`apply`] fills every option the user did not give on the command line
//! from the file and records where each effective value came from, for
//! `softkey config`. Precedence: command line > environment > file > default.
//!
//! Keys (all optional): `vault`, `passphrase_file`, `control_socket` (paths;
//! `~` is the home directory, relative paths are relative to the file's
//! directory), `listen` ("ADDR:PORT"), `allow_remote` (bool), `presence`
//! (tty|notify|socket|auto|deny), `prompt_timeout` (seconds, 1..=600),
//! `attestation` (self|batch). Anything else is an error naming the line.

use std::env;
use std::ffi::OsStr;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use clap::ValueEnum;
use toml::de::{DeTable, DeValue};

use crate::cli::{
    AttestationArg, Cli, Command, DEFAULT_LISTEN, DEFAULT_PRESENCE, DEFAULT_PROMPT_TIMEOUT_SECS,
    PresenceMode,
};

pub const CONFIG_ENV: &str = "SOFTKEY_CONFIG";
pub const CONTROL_SOCKET_ENV: &str = "SOFTKEY_CONTROL_SOCKET";
/// `--prompt-timeout` bounds, the same as the flag's (cli.rs).
const PROMPT_TIMEOUT_SECS: std::ops::RangeInclusive<u64> = 1..=600;

/// Every key the file may hold and what it accepts, for error messages.
const KEYS: [(&str, &str); 8] = [
    ("vault", "a path to the vault file"),
    (
        "passphrase_file",
        "a path to a file holding the vault passphrase",
    ),
    ("listen", "\"ADDR:PORT\", e.g. \"127.0.0.1:3240\""),
    ("allow_remote", "true or false"),
    (
        "presence",
        "one of \"tty\", \"notify\", \"socket\", \"auto\", \"deny\"",
    ),
    ("prompt_timeout", "a number of seconds from 1 to 600"),
    ("attestation", "\"self\" or \"batch\""),
    ("control_socket", "a path to the control socket"),
];

/// Where one effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    CommandLine,
    Environment(&'static str),
    File { path: PathBuf, line: usize },
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::CommandLine => f.write_str("command line"),
            Source::Environment(var) => write!(f, "environment ({var})"),
            Source::File { path, line } => write!(f, "config file {}:{line}", path.display()),
            Source::Default => f.write_str("default"),
        }
    }
}

/// One setting's effective value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Bool(bool),
    Number(u64),
    /// No value; the text says what happens instead.
    Unset(&'static str),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(t) => f.write_str(t),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => write!(f, "{n}"),
            Value::Unset(why) => write!(f, "({why})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub key: &'static str,
    pub value: Value,
    pub source: Source,
}

/// The configuration file that applies, whether it exists, and why it is this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// `None` when neither HOME nor XDG_CONFIG_HOME is set.
    pub path: Option<PathBuf>,
    pub exists: bool,
    pub source: Source,
}

/// The effective configuration: every setting, its value and its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub file: ConfigFile,
    pub settings: Vec<Setting>,
}

/// A value from the file and its line (1-based).
#[derive(Debug, Clone)]
struct At<T> {
    value: T,
    line: usize,
}

impl<T> At<T> {
    fn new(line: usize, value: T) -> Self {
        At { value, line }
    }
}

/// What the file sets.
#[derive(Debug, Default)]
struct FileValues {
    vault: Option<At<PathBuf>>,
    passphrase_file: Option<At<PathBuf>>,
    listen: Option<At<SocketAddr>>,
    allow_remote: Option<At<bool>>,
    presence: Option<At<PresenceMode>>,
    prompt_timeout: Option<At<u64>>,
    attestation: Option<At<AttestationArg>>,
    control_socket: Option<At<PathBuf>>,
}

/// Reads the configuration file and fills every option of `cli` the user
/// did not give; returns the effective configuration. `softkey config`
/// gets a copy in its arguments.
pub fn apply(cli: &mut Cli) -> Result<Effective> {
    let file = locate(cli.config.as_deref())?;
    // Completions and the man page describe the CLI, not this machine.
    let values = match (&cli.command, &file.path) {
        (Command::Completions(_) | Command::Man(_), _) | (_, None) => FileValues::default(),
        (_, Some(path)) if file.exists => load(path)?,
        (_, Some(path)) => {
            if file.source != Source::Default {
                bail!(
                    "the configuration file {} does not exist (named by {}); create it, or \
                     point --config / {CONFIG_ENV} at an existing file",
                    path.display(),
                    match file.source {
                        Source::Environment(var) => var,
                        _ => "--config",
                    }
                );
            }
            FileValues::default()
        }
    };
    let path = file.path.clone().unwrap_or_default();
    let effective = Effective {
        settings: fill(&mut cli.command, &values, &path),
        file,
    };
    Ok(effective)
}

/// `--config` / `$SOFTKEY_CONFIG`, else the XDG location.
fn locate(named: Option<&Path>) -> Result<ConfigFile> {
    let (path, source) = match named {
        Some(path) => {
            let from_env = env::var_os(CONFIG_ENV).is_some_and(|v| OsStr::new(&v) == path);
            let source = if from_env {
                Source::Environment(CONFIG_ENV)
            } else {
                Source::CommandLine
            };
            (Some(path.to_path_buf()), source)
        }
        None => (default_path(), Source::Default),
    };
    let exists = path.as_deref().is_some_and(Path::exists);
    Ok(ConfigFile {
        path,
        exists,
        source,
    })
}

/// `$XDG_CONFIG_HOME/softkey/config.toml`, or `~/.config/softkey/config.toml`.
fn default_path() -> Option<PathBuf> {
    // The XDG spec says relative values are invalid and must be ignored.
    if let Some(dir) = env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|d| d.is_absolute())
    {
        return Some(dir.join("softkey").join("config.toml"));
    }
    env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".config/softkey/config.toml"))
}

fn load(path: &Path) -> Result<FileValues> {
    check_ownership(path)?;
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow!(
            "cannot read the configuration file {}: {e}; fix its permissions, or point \
             --config at another file",
            path.display()
        )
    })?;
    parse(&text, path)
}

/// Refuses a configuration file that someone else could have written: one
/// owned by another user (root's excepted), or writable by its group or by
/// everyone. It can turn prompts off (`presence = "auto"`) or open the key
/// to the network (`allow_remote`), so it is trusted only as far as the
/// user's own files are (SECURITY.md).
fn check_ownership(path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(()); // reading it reports the problem
    };
    let me = crate::paths::current_uid();
    if meta.uid() != me && meta.uid() != 0 {
        bail!(
            "refusing the configuration file {}: it belongs to uid {}, not to you (uid {me}); \
             settings there could approve every request or open the key to the network. \
             Make it yours (`chown`), or point --config at your own file",
            path.display(),
            meta.uid()
        );
    }
    if meta.mode() & 0o022 != 0 {
        bail!(
            "refusing the configuration file {}: others may write to it (mode {:o}); settings \
             there could approve every request or open the key to the network. Fix it with \
             `chmod go-w {}`",
            path.display(),
            meta.mode() & 0o7777,
            path.display()
        );
    }
    Ok(())
}

/// [`parse`], for the fuzz targets (the result's type stays private).
pub fn parse_text(text: &str, path: &Path) -> Result<()> {
    parse(text, path).map(|_| ())
}

/// Parses and checks the whole file; the first problem is an error naming
/// the file, the line, the key and what it accepts.
fn parse(text: &str, path: &Path) -> Result<FileValues> {
    let line_of = |offset: usize| {
        text.get(..offset)
            .map_or(1, |t| t.matches('\n').count() + 1)
    };
    let table = DeTable::parse(text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(s.start));
        anyhow!(
            "{}:{line}: {} (fix the TOML syntax; `softkey config --help` shows an example file)",
            path.display(),
            e.message().trim_end()
        )
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut values = FileValues::default();
    for (key, value) in table.get_ref().iter() {
        let line = line_of(key.span().start);
        let key = key.get_ref().as_ref();
        let value = value.get_ref();
        let wrong = || wrong_value(path, line, key, value);
        match key {
            "vault" => {
                values.vault = Some(At::new(line, path_value(value, dir).ok_or_else(wrong)?))
            }
            "passphrase_file" => {
                values.passphrase_file =
                    Some(At::new(line, path_value(value, dir).ok_or_else(wrong)?));
            }
            "control_socket" => {
                values.control_socket =
                    Some(At::new(line, path_value(value, dir).ok_or_else(wrong)?));
            }
            "listen" => {
                let addr = value.as_str().and_then(|s| s.parse::<SocketAddr>().ok());
                values.listen = Some(At::new(line, addr.ok_or_else(wrong)?));
            }
            "allow_remote" => {
                values.allow_remote = Some(At::new(line, value.as_bool().ok_or_else(wrong)?))
            }
            "presence" => {
                values.presence = Some(At::new(line, enum_value(value).ok_or_else(wrong)?))
            }
            "attestation" => {
                values.attestation = Some(At::new(line, enum_value(value).ok_or_else(wrong)?))
            }
            "prompt_timeout" => {
                let secs = value
                    .as_integer()
                    .filter(|i| i.radix() == 10)
                    .and_then(|i| i.as_str().parse::<u64>().ok())
                    .filter(|s| PROMPT_TIMEOUT_SECS.contains(s));
                values.prompt_timeout = Some(At::new(line, secs.ok_or_else(wrong)?));
            }
            _ => {
                let known: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
                bail!(
                    "{}:{line}: unknown key `{key}`; the keys are {} (`softkey config --help` \
                     shows an example file)",
                    path.display(),
                    known.join(", ")
                );
            }
        }
    }
    Ok(values)
}

fn wrong_value(path: &Path, line: usize, key: &str, value: &DeValue<'_>) -> anyhow::Error {
    let allowed = KEYS
        .iter()
        .find(|(k, _)| *k == key)
        .map_or("", |(_, what)| *what);
    let got = match value {
        DeValue::String(s) => format!("\"{s}\""),
        DeValue::Integer(i) => i.as_str().to_owned(),
        DeValue::Boolean(b) => b.to_string(),
        other => format!("a {}", other.type_str()),
    };
    anyhow!(
        "{}:{line}: `{key}` must be {allowed}, not {got}",
        path.display()
    )
}

/// A path string: `~` or `~/…` is the home directory; relative to `dir` otherwise.
fn path_value(value: &DeValue<'_>, dir: &Path) -> Option<PathBuf> {
    let text = value.as_str().filter(|s| !s.is_empty())?;
    let home = || {
        env::var_os("HOME")
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

/// Resolves one setting: the command-line (or environment) value in `slot`
/// wins; else the file's value is written into `slot`.
fn resolve<T: Clone>(
    slot: &mut Option<T>,
    file: Option<&At<T>>,
    env_var: Option<&'static str>,
    path: &Path,
    same_as_env: impl Fn(&T, &OsStr) -> bool,
) -> Source {
    if let Some(given) = slot {
        let from_env = env_var.and_then(|var| Some((var, env::var_os(var)?)));
        return match from_env {
            Some((var, value)) if same_as_env(given, &value) => Source::Environment(var),
            _ => Source::CommandLine,
        };
    }
    match file {
        Some(at) => {
            *slot = Some(at.value.clone());
            Source::File {
                path: path.to_path_buf(),
                line: at.line,
            }
        }
        None => Source::Default,
    }
}

/// For settings that no environment variable sets.
fn never<T>(_: &T, _: &OsStr) -> bool {
    false
}

/// The option slots of the command being run; settings a command lacks get
/// a scratch slot so that `softkey config` still shows their value.
#[derive(Default)]
struct Slots<'a> {
    vault: Option<&'a mut Option<PathBuf>>,
    passphrase_file: Option<&'a mut Option<PathBuf>>,
    listen: Option<&'a mut Option<SocketAddr>>,
    allow_remote: Option<&'a mut bool>,
    presence: Option<&'a mut Option<PresenceMode>>,
    prompt_timeout: Option<&'a mut Option<u64>>,
    attestation: Option<&'a mut Option<AttestationArg>>,
    control_socket: Option<&'a mut Option<PathBuf>>,
}

fn slots(command: &mut Command) -> Slots<'_> {
    fn with_vault(v: &mut crate::cli::VaultArgs) -> Slots<'_> {
        Slots {
            vault: Some(&mut v.vault),
            passphrase_file: Some(&mut v.passphrase_file),
            ..Slots::default()
        }
    }
    match command {
        Command::Init(a) => with_vault(&mut a.vault),
        Command::List(a) => with_vault(&mut a.vault),
        Command::AttestationCa(a) => with_vault(&mut a.vault),
        Command::Export(a) => with_vault(&mut a.vault),
        Command::Import(a) => with_vault(&mut a.vault),
        Command::Passphrase(a) => with_vault(&mut a.vault),
        Command::Delete(a) => with_vault(&mut a.vault),
        Command::Config(a) => Slots {
            control_socket: Some(&mut a.control.control_socket),
            ..with_vault(&mut a.vault)
        },
        Command::Serve(a) => {
            let control_socket = Some(&mut a.control.control_socket);
            let base = Slots {
                listen: Some(&mut a.listen),
                allow_remote: Some(&mut a.allow_remote),
                presence: Some(&mut a.presence),
                prompt_timeout: Some(&mut a.prompt_timeout),
                attestation: Some(&mut a.attestation),
                control_socket,
                ..Slots::default()
            };
            // `--ephemeral` conflicts with --vault and --passphrase-file.
            if a.ephemeral {
                base
            } else {
                Slots {
                    vault: Some(&mut a.vault.vault),
                    passphrase_file: Some(&mut a.vault.passphrase_file),
                    ..base
                }
            }
        }
        Command::Status(a) => Slots {
            vault: Some(&mut a.vault),
            control_socket: Some(&mut a.control.control_socket),
            ..Slots::default()
        },
        Command::Approve(a) | Command::Deny(a) => Slots {
            control_socket: Some(&mut a.control.control_socket),
            ..Slots::default()
        },
        Command::Pending(a) => Slots {
            control_socket: Some(&mut a.control.control_socket),
            ..Slots::default()
        },
        Command::Completions(_) | Command::Man(_) => Slots::default(),
    }
}

/// Fills the command's options from `file` and describes every setting.
fn fill(command: &mut Command, file: &FileValues, path: &Path) -> Vec<Setting> {
    let s = slots(command);
    let same_path = |p: &PathBuf, env: &OsStr| p.as_os_str() == env;
    let mut settings = Vec::with_capacity(KEYS.len());
    let mut push = |key, value, source| {
        settings.push(Setting { key, value, source });
    };

    let (mut scratch_vault, mut scratch_pass) = (None, None);
    let vault = s.vault.unwrap_or(&mut scratch_vault);
    let source = resolve(vault, file.vault.as_ref(), None, path, never);
    let value = match vault {
        Some(p) => Value::Text(p.display().to_string()),
        None => crate::paths::default_vault_path()
            .map_or(Value::Unset("none: set HOME or XDG_DATA_HOME"), |p| {
                Value::Text(p.display().to_string())
            }),
    };
    push("vault", value, source);

    let pass = s.passphrase_file.unwrap_or(&mut scratch_pass);
    let source = resolve(pass, file.passphrase_file.as_ref(), None, path, never);
    let value = pass
        .as_ref()
        .map_or(Value::Unset("asked on the terminal"), |p| {
            Value::Text(p.display().to_string())
        });
    push("passphrase_file", value, source);

    let mut scratch_listen = None;
    let listen = s.listen.unwrap_or(&mut scratch_listen);
    let source = resolve(listen, file.listen.as_ref(), None, path, never);
    let value = listen.map_or_else(|| DEFAULT_LISTEN.to_owned(), |a| a.to_string());
    push("listen", Value::Text(value), source);

    let mut scratch_remote = false;
    let remote = s.allow_remote.unwrap_or(&mut scratch_remote);
    // A bool flag: given means on; the file can only turn it on as well.
    let source = match (&*remote, &file.allow_remote) {
        (true, _) => Source::CommandLine,
        (false, Some(at)) => {
            *remote = at.value;
            Source::File {
                path: path.to_path_buf(),
                line: at.line,
            }
        }
        (false, None) => Source::Default,
    };
    push("allow_remote", Value::Bool(*remote), source);

    let mut scratch_presence = None;
    let presence = s.presence.unwrap_or(&mut scratch_presence);
    let source = resolve(presence, file.presence.as_ref(), None, path, never);
    let value = value_name(&presence.unwrap_or(DEFAULT_PRESENCE));
    push("presence", Value::Text(value), source);

    let mut scratch_timeout = None;
    let timeout = s.prompt_timeout.unwrap_or(&mut scratch_timeout);
    let source = resolve(timeout, file.prompt_timeout.as_ref(), None, path, never);
    let value = timeout.unwrap_or(DEFAULT_PROMPT_TIMEOUT_SECS);
    push("prompt_timeout", Value::Number(value), source);

    let mut scratch_attestation = None;
    let attestation = s.attestation.unwrap_or(&mut scratch_attestation);
    let source = resolve(attestation, file.attestation.as_ref(), None, path, never);
    let value = attestation.as_ref().map_or(
        Value::Unset("as the vault remembers it; self for a new vault"),
        |a| Value::Text(value_name(a)),
    );
    push("attestation", value, source);

    let mut scratch_socket = None;
    let socket = s.control_socket.unwrap_or(&mut scratch_socket);
    let source = resolve(
        socket,
        file.control_socket.as_ref(),
        Some(CONTROL_SOCKET_ENV),
        path,
        same_path,
    );
    let value = socket.as_ref().map_or_else(
        || {
            format!(
                "{}/NAME-HASH.sock (one per vault, named after it)",
                crate::paths::socket_dir().display()
            )
        },
        |p| p.display().to_string(),
    );
    let value = Value::Text(value);
    push("control_socket", value, source);
    settings
}

#[cfg(test)]
mod tests;
