//! The control socket's client side, for `softkey status`, `pending`,
//! `approve` and `deny`: one connection, request lines out, reply lines in,
//! and errors that say what to do next.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::protocol::{self, ErrorCode, MAX_LINE, Reply, Request, StatusInfo};
use super::{PathError, SOCKET_SUFFIX, Served, check_dir, socket_path};
use crate::cli::ControlArgs;
use crate::paths::socket_dir;

/// How long a reply may take, beyond what the request itself waits.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Replies are bounded too: a broken server cannot make us read forever.
const MAX_REPLY: usize = 4 * MAX_LINE;

#[derive(Debug)]
pub struct Client {
    path: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

/// Why no server could be reached.
#[derive(Debug)]
pub enum ConnectError {
    /// Nothing listens there: no socket, or one a crashed serve left behind.
    NotRunning {
        path: PathBuf,
    },
    /// Several keys are being served and nothing said which one.
    Several(Vec<(PathBuf, StatusInfo)>),
    Path(PathError),
    Io {
        path: PathBuf,
        error: io::Error,
    },
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::NotRunning { path } => write!(
                f,
                "no softkey serve is running (no control socket at {}); start it with `softkey \
                 serve --presence socket`, or pass the --vault or --control-socket it uses",
                path.display()
            ),
            ConnectError::Several(servers) => {
                write!(f, "{} keys are being served; say which:", servers.len())?;
                for (path, status) in servers {
                    // An ephemeral key has no vault to name: its socket.
                    let flag = match status.vault.as_str() {
                        "ephemeral" => format!("--control-socket {}", path.display()),
                        vault => format!("--vault {vault}"),
                    };
                    write!(
                        f,
                        "\n  {flag}  (pid {}, presence {})",
                        status.pid, status.presence
                    )?;
                }
                Ok(())
            }
            ConnectError::Path(e) => e.fmt(f),
            ConnectError::Io { path, error } => write!(
                f,
                "cannot reach softkey serve at {}: {error}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ConnectError {}

impl Client {
    /// The server `args` and `vault` name: `--control-socket`, else the
    /// socket of `vault`, else the one key being served. With several, the
    /// one whose prompts wait for `softkey approve` (`--presence socket`) if
    /// only one does; otherwise [`ConnectError::Several`].
    pub fn find(args: &ControlArgs, vault: Option<&Path>) -> Result<Self, ConnectError> {
        if args.control_socket.is_some() || vault.is_some() {
            let served = vault.map_or(Served::Ephemeral, Served::Vault);
            let path = socket_path(args, served).map_err(ConnectError::Path)?;
            return Self::connect(&path);
        }
        let mut servers = running()?;
        if servers.len() > 1 {
            let answering: Vec<usize> = (0..servers.len())
                .filter(|&i| servers.get(i).is_some_and(|(_, s)| s.presence == "socket"))
                .collect();
            if let [only] = answering[..] {
                servers.swap(0, only);
                servers.truncate(1);
            }
        }
        match servers.len() {
            0 => Err(ConnectError::NotRunning { path: socket_dir() }),
            1 => {
                let (path, _) = servers.swap_remove(0);
                Self::connect(&path)
            }
            _ => Err(ConnectError::Several(servers)),
        }
    }

    pub fn connect(path: &Path) -> Result<Self, ConnectError> {
        let not_running = || ConnectError::NotRunning {
            path: path.to_path_buf(),
        };
        if std::fs::symlink_metadata(path).is_err() {
            return Err(not_running());
        }
        // Only trust a socket in a directory nobody else controls: whoever
        // could plant one there could fake the key's answers.
        check_dir(path, false).map_err(ConnectError::Path)?;
        let stream = match UnixStream::connect(path) {
            Ok(stream) => stream,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
                ) =>
            {
                return Err(not_running());
            }
            Err(error) => {
                return Err(ConnectError::Io {
                    path: path.to_path_buf(),
                    error,
                });
            }
        };
        let io_error = |error| ConnectError::Io {
            path: path.to_path_buf(),
            error,
        };
        stream
            .set_write_timeout(Some(REPLY_TIMEOUT))
            .map_err(io_error)?;
        let reader = BufReader::new(stream.try_clone().map_err(io_error)?);
        Ok(Self {
            path: path.to_path_buf(),
            reader,
            writer: stream,
        })
    }

    /// Sends one request and reads its reply; `wait` is how long the request
    /// itself may block on the server (wait-pending).
    pub fn call(&mut self, request: &Request, wait: Duration) -> Result<Reply> {
        let lost = || format!("talking to softkey serve at {}", self.path.display());
        self.writer
            .write_all(&protocol::encode(request))
            .with_context(lost)?;
        self.reader
            .get_ref()
            .set_read_timeout(Some(wait.saturating_add(REPLY_TIMEOUT)))
            .with_context(lost)?;
        let mut line = Vec::new();
        let limit = u64::try_from(MAX_REPLY).unwrap_or(u64::MAX);
        (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut line)
            .with_context(lost)?;
        let Some(text) = line.strip_suffix(b"\n") else {
            bail!(
                "softkey serve at {} closed the connection without a reply (did it stop?)",
                self.path.display()
            );
        };
        protocol::decode::<Reply>(text).map_err(|bad| {
            anyhow::anyhow!(
                "softkey serve at {} sent a reply this softkey does not understand ({}); is it \
                 a different version?",
                self.path.display(),
                bad.message
            )
        })
    }
}

/// Every `softkey serve` of this user that answers in [`socket_dir`], with
/// what it reports, in socket-name order. A socket nobody answers on is
/// what a killed serve left behind: removed.
pub fn running() -> Result<Vec<(PathBuf, StatusInfo)>, ConnectError> {
    let dir = socket_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(ConnectError::Io { path: dir, error }),
    };
    // Only trust sockets in a directory nobody else controls.
    check_dir(&dir.join("x"), false).map_err(ConnectError::Path)?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            use std::os::unix::fs::FileTypeExt;
            e.file_type().is_ok_and(|t| t.is_socket())
                && e.file_name().to_string_lossy().ends_with(SOCKET_SUFFIX)
        })
        .map(|e| e.path())
        .collect();
    paths.sort();
    let mut servers = Vec::new();
    for path in paths {
        match Client::status_of(&path) {
            Ok(Some(status)) => servers.push((path, status)),
            Ok(None) => {
                let _ = std::fs::remove_file(&path);
            }
            // Busy or a different version: not ours to judge, skip it.
            Err(error) => tracing::debug!(path = %path.display(), %error, "control socket skipped"),
        }
    }
    Ok(servers)
}

impl Client {
    /// What the server at `path` reports; `None` when nothing listens.
    fn status_of(path: &Path) -> Result<Option<StatusInfo>> {
        let mut client = match Self::connect(path) {
            Ok(client) => client,
            Err(ConnectError::NotRunning { .. }) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
        match client.call(&Request::Status, Duration::ZERO)? {
            Reply::Status(status) => Ok(Some(*status)),
            other => Err(unexpected(&other)),
        }
    }
}

/// Turns an error reply into a message with advice.
pub fn reply_error(code: ErrorCode, message: &str) -> anyhow::Error {
    let advice = match code {
        ErrorCode::NothingPending => "; `softkey pending --wait` waits for the next one",
        ErrorCode::UnknownId => "; see `softkey pending`",
        ErrorCode::UnsupportedVersion => "; use the softkey that runs the server",
        _ => "",
    };
    anyhow::anyhow!("{message}{advice}")
}

/// An answer other than the one expected: a server bug or version skew.
pub fn unexpected(reply: &Reply) -> anyhow::Error {
    match reply {
        Reply::Error { code, message } => reply_error(*code, message),
        other => anyhow::anyhow!("softkey serve sent an unexpected reply: {other:?}"),
    }
}
