//! `softkey`: a software FIDO2/WebAuthn security key served over USB/IP.

use std::process::ExitCode;

use clap::Parser;
use softkey::cli::{Cli, Command};
use softkey::{commands, config, hardening};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    let effective = match config::apply(&mut cli) {
        Ok(effective) => effective,
        Err(error) => {
            eprintln!("softkey: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    init_logging(cli.verbose);
    // Every command may hold the vault's data key or a passphrase in memory.
    if let Err(error) = hardening::disable_core_dumps() {
        tracing::warn!(%error, "could not disable core dumps");
    }
    let result = match &cli.command {
        Command::Init(args) => commands::init::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::UhidRelay(args) => commands::uhid_relay::run(args),
        Command::List(args) => commands::list::run(args),
        Command::AttestationCa(args) => commands::attestation::run(args),
        Command::Export(args) => commands::export::run(args),
        Command::Import(args) => commands::import::run(args),
        Command::Passphrase(args) => commands::passphrase::run(args),
        Command::Slot(args) => commands::slot::run(args),
        Command::Status(args) => commands::status::run(args),
        Command::Delete(args) => commands::delete::run(args),
        Command::Approve(args) => commands::approve::run(args, true),
        Command::Deny(args) => commands::approve::run(args, false),
        Command::Pending(args) => commands::pending::run(args),
        Command::Config(args) => commands::config::run(args, &effective),
        Command::Lab(args) => softkey::lab::run(args),
        Command::Conformance(args) => commands::conformance::run(args),
        Command::Completions(args) => commands::completions::run(args),
        Command::Man(args) => commands::man::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`softkey man | head`): nothing
        // failed that anyone is still waiting to hear about.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("softkey: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Logs go to stderr; `RUST_LOG` wins over `-v`. No module logs secrets.
/// Colour only on a terminal, and never with `NO_COLOR` set (no-color.org):
/// journald and pipes get plain text.
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
}
