//! The `cipug` command: parses the command line, runs it and turns the outcome into the
//! exit code. The only place that ends the process.

use std::process::ExitCode;

use cipug::{base::logging, cli, commands, error::Error};

fn main() -> ExitCode {
    let cli = cli::parse();
    logging::init(1);
    // Colour on a terminal only; NO_COLOR honoured.
    let mut stdout = anstream::AutoStream::auto(std::io::stdout().lock());
    match commands::run(&cli, &mut stdout) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that closed the pipe (`cipug completions bash | head`) wanted no more.
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(error) => {
            if !matches!(error, Error::Several(_)) {
                log::error!("{error}");
            }
            ExitCode::from(error.exit_code())
        }
    }
}
