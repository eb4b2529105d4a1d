//! The control socket's server side: binds the socket safely (private
//! directory, mode 0600, stale sockets replaced, a live one left alone),
//! accepts on its own thread, and answers each connection on a thread of its
//! own with the line protocol of [`super::protocol`]. Removes the socket when
//! dropped.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use super::protocol::{self, ErrorCode, MAX_LINE, MAX_WAIT_MS, Reply, Request};
use super::state::ControlState;
use super::{PathError, check_dir};

/// Connections served at once; more get a `busy` error. Only the user can
/// connect, so this only guards against a runaway script.
const MAX_CONNECTIONS: usize = 16;
/// A connection that sends nothing for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// A bound control socket; its accept thread runs until drop.
#[derive(Debug)]
pub struct ControlServer {
    path: PathBuf,
    /// (device, inode) of the socket we bound, so drop never removes a
    /// socket another process put in its place.
    identity: (u64, u64),
    stop: Arc<AtomicBool>,
}

/// Why the control socket could not be set up.
#[derive(Debug)]
pub enum StartError {
    Path(PathError),
    /// Another `softkey serve` answers on this socket.
    InUse(PathBuf),
    NotASocket(PathBuf),
    Io {
        what: &'static str,
        path: PathBuf,
        error: io::Error,
    },
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Path(e) => e.fmt(f),
            StartError::InUse(path) => write!(
                f,
                "another softkey serve is running with the control socket {} (see `softkey \
                 status`); stop it, or give this one its own with --control-socket PATH",
                path.display()
            ),
            StartError::NotASocket(path) => write!(
                f,
                "{} exists and is not a socket; remove it or pass --control-socket PATH",
                path.display()
            ),
            StartError::Io { what, path, error } => {
                write!(
                    f,
                    "cannot {what} the control socket {}: {error}",
                    path.display()
                )
            }
        }
    }
}

impl std::error::Error for StartError {}

impl ControlServer {
    /// Binds `path` and starts answering from `state`.
    pub fn start(path: &Path, state: Arc<ControlState>) -> Result<Self, StartError> {
        check_dir(path, true).map_err(StartError::Path)?;
        remove_stale(path)?;
        let io_error = |what, error| StartError::Io {
            what,
            path: path.to_path_buf(),
            error,
        };
        let listener = UnixListener::bind(path).map_err(|e| io_error("create", e))?;
        // The directory is 0700, so nobody else could reach the socket
        // between bind and this chmod.
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .map_err(|e| io_error("protect", e))?;
        let meta = fs::symlink_metadata(path).map_err(|e| io_error("inspect", e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let accept_stop = Arc::clone(&stop);
        thread::Builder::new()
            .name("control-accept".into())
            .spawn(move || accept_loop(&listener, &state, &accept_stop))
            .map_err(|e| io_error("serve", e))?;
        tracing::info!(path = %path.display(), "control socket listening");
        Ok(Self {
            path: path.to_path_buf(),
            identity: (meta.dev(), meta.ino()),
            stop,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept thread so it sees the stop flag.
        let _ = UnixStream::connect(&self.path);
        let ours =
            fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.identity);
        if ours {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Replaces a socket nobody answers on (a crashed serve's); refuses a live one.
fn remove_stale(path: &Path) -> Result<(), StartError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(StartError::Io {
                what: "inspect",
                path: path.to_path_buf(),
                error,
            });
        }
    };
    if !meta.file_type().is_socket() {
        return Err(StartError::NotASocket(path.to_path_buf()));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(StartError::InUse(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(path = %path.display(), "replacing a stale control socket");
            match fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StartError::Io {
                    what: "replace",
                    path: path.to_path_buf(),
                    error: e,
                }),
                _ => Ok(()),
            }
        }
        Err(error) => Err(StartError::Io {
            what: "check",
            path: path.to_path_buf(),
            error,
        }),
    }
}

fn accept_loop(listener: &UnixListener, state: &Arc<ControlState>, stop: &AtomicBool) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let mut stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                // E.g. out of file descriptors: back off instead of spinning.
                tracing::warn!(%error, "control socket accept failed");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
            let busy = Reply::error(ErrorCode::Busy, "too many control connections; try again");
            let _ = stream.write_all(&protocol::encode(&busy));
            continue;
        }
        let state = Arc::clone(state);
        let count = Arc::clone(&active);
        let spawned = thread::Builder::new()
            .name("control-conn".into())
            .spawn(move || {
                if let Err(error) = serve_connection(stream, &state) {
                    tracing::debug!(%error, "control connection ended");
                }
                count.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(error) = spawned {
            active.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(%error, "cannot start a control connection thread");
        }
    }
}

/// Answers request lines until the peer closes, idles out or oversteps.
fn serve_connection(stream: UnixStream, state: &ControlState) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut line = Vec::new();
        let limit = u64::try_from(MAX_LINE)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let n = (&mut reader).take(limit).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(());
        }
        let complete = line.ends_with(b"\n");
        if !complete && line.len() > MAX_LINE {
            let reply = Reply::error(
                ErrorCode::LineTooLong,
                format!("request lines are at most {MAX_LINE} bytes"),
            );
            writer.write_all(&protocol::encode(&reply))?;
            return Ok(());
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if !text.iter().all(u8::is_ascii_whitespace) {
            let reply = match protocol::decode::<Request>(text) {
                Ok(request) => handle(request, state),
                Err(bad) => Reply::error(bad.code, bad.message),
            };
            writer.write_all(&protocol::encode(&reply))?;
        }
        if !complete {
            return Ok(()); // the peer closed after a last unterminated line
        }
    }
}

fn handle(request: Request, state: &ControlState) -> Reply {
    match request {
        Request::Status => Reply::Status(Box::new(state.status())),
        Request::Pending => Reply::Pending {
            requests: state.pending(),
        },
        Request::WaitPending { timeout_ms } => Reply::Pending {
            requests: state.wait_pending(Duration::from_millis(timeout_ms.min(MAX_WAIT_MS))),
        },
        Request::Approve { id } => answer(state, id, true),
        Request::Deny { id } => answer(state, id, false),
    }
}

fn answer(state: &ControlState, id: Option<u64>, approve: bool) -> Reply {
    match state.answer(id, approve) {
        Ok((id, prompt)) => {
            tracing::info!(id, approve, "presence answered over the control socket");
            Reply::Answered {
                id,
                approved: approve,
                prompt,
            }
        }
        Err(error) => Reply::error(error.code, error.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::PresenceMode;
    use crate::control::state::ServeFacts;

    fn start(name: &str) -> (ControlServer, PathBuf) {
        let mut bytes = [0u8; 6];
        getrandom::fill(&mut bytes).unwrap_or_default();
        let dir = std::env::temp_dir().join(format!(
            "softkey-srv-{name}-{}",
            crate::text::to_hex(&bytes)
        ));
        let path = dir.join("control.sock");
        let state = Arc::new(ControlState::new(ServeFacts {
            presence: PresenceMode::Socket,
            prompt_timeout: Duration::from_secs(30),
            vault: "ephemeral".into(),
            bus_id: "1-1".into(),
            control_socket: path.display().to_string(),
        }));
        let server = ControlServer::start(&path, state);
        assert!(server.is_ok(), "{server:?}");
        (server.unwrap_or_else(|_| unreachable!()), dir)
    }

    fn exchange(path: &Path, input: &[u8]) -> String {
        let mut stream = UnixStream::connect(path).unwrap_or_else(|e| panic!("{e}"));
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = stream.write_all(input);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut out = String::new();
        let _ = stream.read_to_string(&mut out);
        out
    }

    #[test]
    fn answers_garbage_with_errors_and_keeps_serving() {
        let (server, dir) = start("garbage");
        let mode = fs::metadata(server.path()).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
        let out = exchange(
            server.path(),
            b"\xff\n{\"v\":1}\n\n{\"v\":1,\"op\":\"pending\"}",
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(lines.first().is_some_and(|l| l.contains("bad-request")));
        assert!(lines.get(2).is_some_and(|l| l.contains("\"requests\":[]")));
        let long = vec![b'x'; MAX_LINE + 10];
        assert!(exchange(server.path(), &long).contains("line-too-long"));
        let path = server.path().to_path_buf();
        drop(server);
        assert!(!path.exists(), "the socket is removed on drop");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_live_socket_is_refused_and_a_stale_one_replaced() {
        let (server, dir) = start("live");
        let state = Arc::new(ControlState::new(ServeFacts {
            presence: PresenceMode::Tty,
            prompt_timeout: Duration::from_secs(30),
            vault: "ephemeral".into(),
            bus_id: "1-1".into(),
            control_socket: String::new(),
        }));
        let second = ControlServer::start(server.path(), Arc::clone(&state));
        assert!(matches!(second, Err(StartError::InUse(_))), "{second:?}");
        // A socket file nobody listens on, as a crash leaves it.
        let stale = dir.join("stale.sock");
        drop(UnixListener::bind(&stale));
        let replaced = ControlServer::start(&stale, state);
        assert!(replaced.is_ok(), "{replaced:?}");
        drop(replaced);
        drop(server);
        let _ = fs::remove_dir_all(dir);
    }
}
