//! `softkey completions SHELL`: a completion script generated from the clap
//! definition, so it always matches the real flags.

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};

pub fn run(args: &CompletionsArgs) -> Result<()> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "softkey", &mut std::io::stdout());
    Ok(())
}
