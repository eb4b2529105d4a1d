//! The configuration file: TOML at `--config FILE`, `$SOFTKEY_CONFIG`,
//! `$XDG_CONFIG_HOME/softkey/config.toml` or `~/.config/softkey/config.toml`
//! (XDG Base Directory specification). A missing default file means "all
//! defaults"; a file named explicitly must exist.
//!
//! [`apply`] fills every option the user did not give on the command line
//! from the file and records where each effective value came from, for
//! `softkey config`. Precedence: command line > environment > file > default.
//!
//! Keys (all optional; the table is [`settings`]): `vault`,
//! `passphrase_file`, `control_socket` (paths; `~` is the home directory,
//! relative paths are relative to the file's directory), `transport`
//! (usbip|uhid), `listen` ("ADDR:PORT"), `allow_remote` (bool), `presence`
//! (tty|notify|socket|auto|deny), `prompt_timeout` (seconds, 1..=600),
//! `attestation` (self|batch). Anything else is an error naming the line.

mod settings;

use std::collections::BTreeMap;
use std::env;
use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use toml::de::{DeTable, DeValue};

use crate::cli::{Cli, Command};
pub use settings::{CONTROL_SOCKET_ENV, value_name};
use settings::{Parsed, SETTINGS};

pub const CONFIG_ENV: &str = "SOFTKEY_CONFIG";

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

/// What the file sets: each setting's parsed value and its line, by key.
#[derive(Debug, Default)]
struct FileValues(BTreeMap<&'static str, At<Parsed>>);

impl FileValues {
    fn get(&self, key: &str) -> Option<&At<Parsed>> {
        self.0.get(key)
    }
}

/// Reads the configuration file and fills every option of `cli` the user
/// did not give; returns the effective configuration. `softkey config`
/// gets a copy in its arguments.
pub fn apply(cli: &mut Cli) -> Result<Effective> {
    let file = locate(cli.config.as_deref())?;
    // Completions and the man page describe the CLI, not this machine; the
    // uhid relay runs as root and takes nothing from a user's file.
    let values = match (&cli.command, &file.path) {
        (Command::Completions(_) | Command::Man(_) | Command::UhidRelay(_), _) | (_, None) => {
            FileValues::default()
        }
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
        let Some(def) = settings::def(key) else {
            let known: Vec<&str> = SETTINGS.iter().map(|def| def.key).collect();
            bail!(
                "{}:{line}: unknown key `{key}`; the keys are {} (`softkey config --help` \
                 shows an example file)",
                path.display(),
                known.join(", ")
            );
        };
        let parsed = def
            .kind
            .parse(value, dir)
            .ok_or_else(|| wrong_value(path, line, def.key, def.accepts, value))?;
        values.0.insert(def.key, At::new(line, parsed));
    }
    Ok(values)
}

fn wrong_value(
    path: &Path,
    line: usize,
    key: &str,
    allowed: &str,
    value: &DeValue<'_>,
) -> anyhow::Error {
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

/// Fills the command's options from `file` and describes every setting:
/// the command line (or environment) value wins; else the file's value is
/// written into the command's flag; else the default applies.
fn fill(command: &mut Command, file: &FileValues, path: &Path) -> Vec<Setting> {
    SETTINGS
        .iter()
        .map(|def| {
            let mut scratch = def.kind.scratch();
            let mut slot = match (def.slot)(command) {
                Some(slot) => slot,
                None => scratch.slot(),
            };
            let source = if slot.given() {
                let from_env = def.env.and_then(|var| Some((var, env::var_os(var)?)));
                match from_env {
                    Some((var, value)) if slot.is_env_value(OsStr::new(&value)) => {
                        Source::Environment(var)
                    }
                    _ => Source::CommandLine,
                }
            } else if let Some(at) = file.get(def.key) {
                slot.fill(&at.value);
                Source::File {
                    path: path.to_path_buf(),
                    line: at.line,
                }
            } else {
                Source::Default
            };
            Setting {
                key: def.key,
                value: slot.value().unwrap_or_else(def.unset),
                source,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
