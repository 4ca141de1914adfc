//! A service's update window: `UPDATE_WINDOW` in its `.env`, else the setting of that name.
//! Outside its window a service is resolved and reported but not touched (no snapshot, no
//! write, no restart); `update --now` overrides.

use chrono::{DateTime, Local, TimeZone};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::formats::update_window::{State, Windows};
use crate::pipeline::plan::{Change, Service};

/// The `.env` key of a service's own windows; an empty value means any time.
pub const KEY: &str = "UPDATE_WINDOW";

/// The windows of `service`: its `.env`'s, else the setting's. A value that does not parse
/// is an error naming the file and line (exit 32).
pub fn windows(config: &Config, service: &Service) -> Result<Windows> {
    let Some(entry) = service.env.get(KEY) else {
        return Ok(config.update_window.clone());
    };
    Windows::parse(&entry.value).map_err(|e| {
        Error::Env(format!(
            "{}:{}: {KEY}: {e}",
            service.dir.env_file.display(),
            entry.line
        ))
    })
}

/// When the window of `service` opens next, in the local time zone, or `None` when it is
/// open at `now` (Unix seconds).
pub fn opens(config: &Config, service: &Service, now: f64) -> Result<Option<DateTime<Local>>> {
    let windows = windows(config, service)?;
    if windows.is_empty() {
        return Ok(None);
    }
    let Some(now) = Local.timestamp_opt(now as i64, 0).earliest() else {
        return Ok(None);
    };
    Ok(match windows.state(&now) {
        State::Open => None,
        State::Closed(opens) => Some(opens),
    })
}

/// `waiting for window (opens Sat 01:00)`.
pub fn label<Tz: TimeZone>(opens: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    format!("waiting for window (opens {})", opens.format("%a %H:%M"))
}

/// Logs the `changes` of `name` that wait for its window, opening at `opens` (their rows:
/// [`crate::pipeline::summary::of_selection`]).
pub fn report(name: &str, changes: &[Change], opens: &DateTime<Local>) {
    if changes.is_empty() {
        return;
    }
    let entries: Vec<&str> = changes.iter().map(|c| c.entry.as_str()).collect();
    log::info!(
        "{name}: {}; {} left as it is (--now updates it)",
        label(opens),
        entries.join(", ")
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    #[test]
    fn the_label_names_the_day_and_time_it_opens() {
        let zone = FixedOffset::east_opt(3600).unwrap();
        let opens = zone.with_ymd_and_hms(2026, 5, 2, 1, 0, 0).unwrap();
        assert_eq!(label(&opens), "waiting for window (opens Sat 01:00)");
    }
}
