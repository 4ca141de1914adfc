//! A service's update window: `UPDATE_WINDOW` in its `.env`, else the setting of that name.
//! Outside its window a service is resolved and reported but not touched (no snapshot, no
//! write, no restart); `update --now` overrides.

use chrono::{DateTime, Local, TimeZone};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::formats::update_window::{State, Windows};
use crate::pipeline::service::{Change, Service};

/// The `.env` key of a service's own windows; an empty value means any time.
pub const KEY: &str = "UPDATE_WINDOW";

/// The windows of `service`: its `.env`'s, else the setting's. A value that does not parse
/// is an error naming the file and line (exit 32).
pub fn windows(config: &Config, service: &Service) -> Result<Windows> {
    let Some(entry) = service.env.get(KEY) else {
        return Ok(config.update_window.clone());
    };
    Windows::parse(&entry.value).map_err(|e| {
        Error::Env(
            format!(
                "{}:{}: {KEY}: {e}",
                service.dir.env_file.display(),
                entry.line
            )
            .into(),
        )
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
/// [`crate::pipeline::record::summary::of_selection`]).
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

    /// The fixture service with `lines` added to its `.env`, and its settings.
    fn service(lines: &str) -> (tempfile::TempDir, Config, Service) {
        let (root, config, dir) = crate::pipeline::fixture::service(
            "r.io/app@sha256:1111111111111111111111111111111111111111111111111111111111111111",
        );
        let text = std::fs::read_to_string(&dir.env_file).unwrap();
        std::fs::write(&dir.env_file, format!("{text}{lines}")).unwrap();
        let service = crate::pipeline::service::load(&dir).unwrap();
        (root, config, service)
    }

    /// 2026-05-06 12:00 UTC, a Wednesday in every time zone.
    const WEDNESDAY: f64 = 1_778_068_800.0;

    #[test]
    fn the_env_file_window_comes_before_the_setting() {
        let (_root, mut config, plain) = service("");
        assert_eq!(opens(&config, &plain, WEDNESDAY).unwrap(), None, "any time");
        config.update_window = Windows::parse("Sat 01:00-02:00").unwrap();
        let opens_at = opens(&config, &plain, WEDNESDAY).unwrap().unwrap();
        assert_eq!(opens_at.format("%a %H:%M").to_string(), "Sat 01:00");
        // An empty UPDATE_WINDOW in the `.env` means any time, whatever the setting says.
        let (_root, _, own) = service("UPDATE_WINDOW=\n");
        assert_eq!(opens(&config, &own, WEDNESDAY).unwrap(), None);
        let (_root, _, own) = service("UPDATE_WINDOW=Wed,Thu 00:00-23:59\n");
        assert_eq!(
            opens(&config, &own, WEDNESDAY).unwrap(),
            None,
            "open on Wednesday"
        );
    }

    #[test]
    fn a_bad_window_names_the_file_and_line() {
        let (_root, config, bad) = service("UPDATE_WINDOW=Someday 01:00-02:00\n");
        let e = opens(&config, &bad, WEDNESDAY).unwrap_err();
        assert_eq!(e.exit_code(), 32);
        assert!(e.to_string().contains(".env:3: UPDATE_WINDOW: "), "{e}");
    }
}
