//! cipug: container images pinning and updating gadget.
//!
//! `main` parses the command line, runs it and turns the outcome into the exit code; it is
//! the only place that ends the process.

mod app;
mod atomic;
mod cli;
mod compose;
mod config;
mod envfile;
mod error;
mod image_ref;
mod logging;
mod pins;
mod report;
mod resolve;
mod runner;
mod services;
mod settings;
mod snapcheck;
mod snapshot;
mod update;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    logging::init(1);
    let mut stdout = std::io::stdout().lock();
    match app::run(&cli, &mut stdout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if !matches!(error, error::Error::Several(_)) {
                log::error!("{error}");
            }
            ExitCode::from(error.exit_code())
        }
    }
}
