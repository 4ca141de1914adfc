//! The man page and shell completions, generated from the clap definitions so they cannot
//! drift from `--help`.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::{Error, Result};

/// Writes the man page (roff) of cipug.
pub fn man(out: &mut dyn Write) -> Result<()> {
    clap_mangen::Man::new(Cli::command())
        .render(out)
        .map_err(|e| Error::io("standard output", e))
}

/// Writes the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> Result<()> {
    // clap_complete panics when its writer fails (a closed pipe): generate into memory.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "cipug", &mut script);
    out.write_all(&script)
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("standard output", e))
}
