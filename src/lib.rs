//! The parts of the `softkey` program, as a library: `src/main.rs` runs
//! them, and the fuzz targets (`fuzz/`) reach the parsers of untrusted
//! input here ([`fuzzing`]): the configuration file, control-socket lines
//! and CXF backups.

mod automation;
mod backup;
pub mod cli;
pub mod commands;
pub mod config;
mod control;
pub mod hardening;
mod key;
pub mod lab;
mod passphrase;
mod paths;
mod presence;
mod prompt_text;
mod rsa_pool;
mod shown;
mod shutdown;
pub mod slots;
/// The vault and the in-memory store behind the authenticator's `Store`
/// trait; public so `softkey-bench` fills its scale vaults exactly as
/// `softkey import` does.
pub mod store;
mod text;

/// Entry points for the fuzz targets and their replay test: each takes
/// arbitrary bytes and must return (an error is fine) without panicking.
pub mod fuzzing {
    use std::path::Path;

    /// The configuration file parser (`config.toml`).
    pub fn config_file(data: &[u8]) {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = crate::config::parse_text(text, Path::new("config.toml"));
        }
    }

    /// One control-socket request line, as `softkey serve` decodes it.
    pub fn control_line(data: &[u8]) {
        let _ = crate::control::protocol::decode::<crate::control::protocol::Request>(data);
        let _ = crate::control::protocol::decode::<crate::control::protocol::Reply>(data);
    }

    /// The CXF document inside a backup, as `softkey import` reads it
    /// (after decryption).
    pub fn cxf_backup(data: &[u8]) {
        let _ = crate::backup::from_cxf(data);
    }

    /// A CXF document as `softkey export` writes it, to seed [`cxf_backup`].
    pub fn cxf_of(contents: &softkey_authenticator::BackupContents) -> Vec<u8> {
        crate::backup::to_cxf(contents, b"fuzz-account", 1_800_000_000)
            .map(|json| json.as_bytes().to_vec())
            .unwrap_or_default()
    }

    /// What people are shown of request text: never a control character.
    pub fn shown_text(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let out = crate::shown::shown_in_prompt(&text, crate::shown::NAME_CHARS);
        assert!(!out.chars().any(char::is_control), "{out:?}");
    }
}
