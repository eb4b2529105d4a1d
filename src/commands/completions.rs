//! `softkey completions SHELL`: a completion script generated from the clap
//! definition, so it always matches the real flags.

use std::io::Write;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};

pub fn run(args: &CompletionsArgs) -> Result<()> {
    let mut cmd = Cli::command();
    // Generated into memory: clap_complete panics on a write error, and a
    // reader that stops early (`| head`) is not a reason to panic.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "softkey", &mut script);
    std::io::stdout()
        .lock()
        .write_all(&script)
        .context("writing the completion script to standard output")
}
