//! The log backend: leveled lines on standard error, coloured only on a terminal.
//!
//! VERBOSITY 0 shows errors, 1 adds warnings and normal progress, 2 verbose notes, 3 every
//! command run and what it printed. `anstream` drops the colour when standard error is not a
//! terminal or `NO_COLOR` is set.

use anstyle::{AnsiColor, Style};
use log::{Level, LevelFilter, Log, Metadata, Record};

struct StderrLog;

impl Log for StderrLog {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
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
