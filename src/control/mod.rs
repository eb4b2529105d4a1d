//! The control socket of `softkey serve`: a Unix stream socket owned by the
//! user (0600 in a 0700 directory) over which `softkey status`, `pending`,
//! `approve` and `deny` talk to the running key.
//!
//! The protocol is in [`protocol`], the server (std threads, no async) in
//! [`server`], the client the subcommands use in [`client`], and the state the
//! key and the presence prompt share with the server in [`state`].

pub mod client;
pub mod protocol;
pub mod server;
pub mod state;

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use std::sync::Arc;

pub use server::ControlServer;
pub use state::ControlState;

use crate::cli::{ControlArgs, PresenceMode, ServeArgs};
use crate::paths::{current_uid, socket_dir};
use state::ServeFacts;

/// What the sockets in the socket directory end with.
pub const SOCKET_SUFFIX: &str = ".sock";

/// The control side of a running `softkey serve`; dropping it removes the socket.
#[derive(Debug)]
pub struct ServeControl {
    pub state: Arc<ControlState>,
    /// Held for its drop, which removes the socket; None when the socket
    /// could not be set up and the key runs without it.
    _server: Option<ControlServer>,
}

/// Starts the control socket for `serve`. Without it `--presence socket`
/// cannot work, so there a failure is an error; other modes run on with a
/// warning.
pub fn start_for_serve(
    args: &ServeArgs,
    served: Served<'_>,
    bus_id: &str,
) -> anyhow::Result<ServeControl> {
    let path = socket_path(&args.control, served);
    let vault = match served {
        Served::Ephemeral => "ephemeral".to_owned(),
        Served::Vault(path) => path.display().to_string(),
    };
    let state = Arc::new(ControlState::new(ServeFacts {
        presence: args.presence(),
        prompt_timeout: args.prompt_timeout(),
        vault,
        bus_id: bus_id.to_owned(),
        control_socket: path
            .as_ref()
            .map_or_else(|_| String::new(), |p| p.display().to_string()),
    }));
    let started = path
        .map_err(server::StartError::Path)
        .and_then(|path| ControlServer::start(&path, Arc::clone(&state)));
    let server = match started {
        Ok(server) => Some(server),
        Err(error) if args.presence() == PresenceMode::Socket => {
            return Err(anyhow::anyhow!(
                "--presence socket needs the control socket: {error}"
            ));
        }
        Err(error) => {
            // Said once, on stderr (the log would say it a second time).
            tracing::debug!(%error, "running without a control socket");
            eprintln!(
                "softkey: warning: running without a control socket (`softkey status` will not \
                 see this key): {error}"
            );
            None
        }
    };
    if let (Some(server), PresenceMode::Socket) = (&server, args.presence()) {
        eprintln!(
            "softkey: presence requests wait for `softkey approve` / `softkey deny` (control \
             socket {}).",
            server.path().display()
        );
    }
    Ok(ServeControl {
        state,
        _server: server,
    })
}

/// What a `softkey serve` serves, which names its control socket.
#[derive(Debug, Clone, Copy)]
pub enum Served<'a> {
    Vault(&'a Path),
    /// `--ephemeral`: a socket of this process's own.
    Ephemeral,
}

/// `--control-socket` / `SOFTKEY_CONTROL_SOCKET`, else the one named after
/// what is served, in [`socket_dir`].
pub fn socket_path(args: &ControlArgs, served: Served<'_>) -> Result<PathBuf, PathError> {
    match &args.control_socket {
        Some(path) if path.as_os_str().is_empty() => Err(PathError::Empty),
        Some(path) => Ok(path.clone()),
        None => Ok(socket_dir().join(socket_name(served))),
    }
}

/// One socket per vault, so two keys of one user never share one: the
/// vault file's name, then a hash of its absolute path (two `vault.softkey`
/// in different directories differ), e.g. `vault-3fa2c1d0.sock`. An
/// ephemeral key's carries its pid.
pub fn socket_name(served: Served<'_>) -> String {
    use sha2::Digest;
    match served {
        Served::Ephemeral => format!("ephemeral-{}{SOCKET_SUFFIX}", std::process::id()),
        Served::Vault(path) => {
            let absolute = fs::canonicalize(path)
                .or_else(|_| std::path::absolute(path))
                .unwrap_or_else(|_| path.to_path_buf());
            let digest = sha2::Sha256::digest(absolute.as_os_str().as_encoded_bytes());
            let stem: String = absolute
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .take(32)
                .collect();
            let hash = crate::text::to_hex(digest.get(..4).unwrap_or_default());
            format!("{stem}-{hash}{SOCKET_SUFFIX}")
        }
    }
}

/// Why a socket path cannot be used.
#[derive(Debug)]
pub enum PathError {
    Empty,
    /// The directory is not ours, or others may write to it: whoever controls
    /// it could answer our prompts or impersonate the key's control socket.
    UnsafeDir {
        dir: PathBuf,
        reason: String,
    },
    Io {
        dir: PathBuf,
        error: io::Error,
    },
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathError::Empty => f.write_str("the control socket path is empty"),
            PathError::UnsafeDir { dir, reason } => write!(
                f,
                "refusing to use the control socket directory {}: {reason}; remove it or pass \
                 --control-socket PATH in a directory only you can write to",
                dir.display()
            ),
            PathError::Io { dir, error } => write!(
                f,
                "cannot use the control socket directory {}: {error}",
                dir.display()
            ),
        }
    }
}

impl std::error::Error for PathError {}

/// The directory that holds `socket`, checked (and with `create`, made 0700
/// if missing): a real directory, owned by us, writable by nobody else.
pub fn check_dir(socket: &Path, create: bool) -> Result<(), PathError> {
    let dir = match socket.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if create && !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|error| PathError::Io {
                dir: dir.clone(),
                error,
            })?;
    }
    // symlink_metadata: a symlink planted in a shared directory must not lead us elsewhere.
    let meta = fs::symlink_metadata(&dir).map_err(|error| PathError::Io {
        dir: dir.clone(),
        error,
    })?;
    let unsafe_dir = |reason: String| PathError::UnsafeDir {
        dir: dir.clone(),
        reason,
    };
    if !meta.is_dir() {
        return Err(unsafe_dir(
            "it is not a directory (a symbolic link?)".into(),
        ));
    }
    if meta.uid() != current_uid() {
        return Err(unsafe_dir(format!(
            "it belongs to user id {}, not to you ({})",
            meta.uid(),
            current_uid()
        )));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(unsafe_dir(format!(
            "others may write to it (mode {mode:03o}); `chmod go-w` it"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let mut bytes = [0u8; 6];
        getrandom::fill(&mut bytes).unwrap_or_default();
        let dir = std::env::temp_dir().join(format!(
            "softkey-control-{name}-{}",
            crate::text::to_hex(&bytes)
        ));
        fs::create_dir_all(&dir).unwrap_or_default();
        dir
    }

    #[test]
    fn creates_a_private_directory() {
        let base = temp_dir("create");
        let socket = base.join("sub").join("control.sock");
        assert!(check_dir(&socket, true).is_ok());
        let mode = fs::metadata(base.join("sub")).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o700));
        let _ = fs::remove_dir_all(base);
    }

    #[test]
    fn refuses_a_world_writable_directory() {
        let base = temp_dir("writable");
        let _ = fs::set_permissions(&base, fs::Permissions::from_mode(0o777));
        let result = check_dir(&base.join("control.sock"), true);
        assert!(
            matches!(result, Err(PathError::UnsafeDir { .. })),
            "{result:?}"
        );
        let _ = fs::remove_dir_all(base);
    }

    #[test]
    fn refuses_a_symlinked_directory() {
        let base = temp_dir("link");
        let real = base.join("real");
        let _ = fs::create_dir(&real);
        let _ = std::os::unix::fs::symlink(&real, base.join("link"));
        let result = check_dir(&base.join("link").join("control.sock"), false);
        assert!(
            matches!(result, Err(PathError::UnsafeDir { .. })),
            "{result:?}"
        );
        let _ = fs::remove_dir_all(base);
    }
}
