//! The log backend: leveled lines on standard error, coloured only on a terminal.
//!
//! VERBOSITY 0 shows errors, 1 adds warnings and normal progress, 2 verbose notes, 3 every
//! command run and what it printed. `anstream` drops the colour when standard error is not a
//! terminal or `NO_COLOR` is set.
//!
//! Only cipug's own lines are shown, at every level: the HTTP and TLS libraries' traces
//! dump whole requests (credentials and tokens included) and are dropped.

use anstyle::{AnsiColor, Style};
use log::{Level, LevelFilter, Log, Metadata, Record};

struct StderrLog;

impl Log for StderrLog {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level() && is_own(metadata.target())
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let (label, style) = match record.level() {
            Level::Error => ("error: ", AnsiColor::Red.on_default().bold()),
            Level::Warn => ("warning: ", AnsiColor::Yellow.on_default().bold()),
            Level::Info => ("", Style::new()),
            Level::Debug | Level::Trace => ("", AnsiColor::BrightBlack.on_default()),
        };
        anstream::eprintln!("{style}{label}{style:#}{}", record.args());
    }

    fn flush(&self) {}
}

static LOGGER: StderrLog = StderrLog;

/// Whether a log target is cipug's own (`cipug`, `cipug::resolve`, ...).
fn is_own(target: &str) -> bool {
    target
        .strip_prefix(env!("CARGO_CRATE_NAME"))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// The level filter for a VERBOSITY value.
pub fn level_for(verbosity: u8) -> LevelFilter {
    match verbosity {
        0 => LevelFilter::Error,
        1 => LevelFilter::Info,
        2 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

/// Installs the logger (once; later calls only change the level).
pub fn init(verbosity: u8) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level_for(verbosity));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_own_targets_pass() {
        assert!(is_own("cipug"));
        assert!(is_own("cipug::resolve::native"));
        for other in ["ureq", "ureq_proto::client", "rustls::conn", "cipugx", ""] {
            assert!(!is_own(other), "{other}");
        }
    }
}
