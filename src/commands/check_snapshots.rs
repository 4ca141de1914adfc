//! `check-snapshots`: is the newest snapper and btrbk snapshot of every service recent?
//!
//! The snapshot folders are relative to each service folder (an absolute path is taken as
//! it is). A kind whose folder setting is unset is not checked. Snapper's snapshot time is
//! the `<date>` in `<n>/info.xml` (UTC); btrbk's is the timestamp in the snapshot name
//! (`<name>.20250626T0100`, also `<name>.20250626`, `<name>.20250626T010000+0200` and a
//! `_N` suffix), in local time unless it carries an offset.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::services;

/// The newest snapshot of one kind for one service.
#[derive(Debug, Clone, PartialEq)]
pub struct Newest {
    /// `snapper` or `btrbk`.
    pub kind: &'static str,
    /// When it was taken, if any was found.
    pub time: Option<DateTime<Utc>>,
    /// The allowed age in hours.
    pub max_age_hours: f64,
}

impl Newest {
    /// Its age in hours at `now`.
    pub fn age_hours(&self, now: DateTime<Utc>) -> Option<f64> {
        self.time.map(|t| (now - t).num_seconds() as f64 / 3600.0)
    }

    /// Whether it exists and is young enough.
    pub fn ok(&self, now: DateTime<Utc>) -> bool {
        self.age_hours(now).is_some_and(|a| a <= self.max_age_hours)
    }
}

/// Parses the `<date>` of a snapper `info.xml` (snapper writes UTC).
pub fn parse_snapper_info(xml: &str) -> Option<DateTime<Utc>> {
    let start = xml.find("<date>")? + "<date>".len();
    let end = start + xml[start..].find("</date>")?;
    let naive = NaiveDateTime::parse_from_str(xml[start..end].trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    Some(Utc.from_utc_datetime(&naive))
}

/// Parses the timestamp of a btrbk snapshot name like `app.20250626T0100`.
pub fn parse_btrbk_name(name: &str) -> Option<DateTime<Utc>> {
    let (_, stamp) = name.rsplit_once('.')?;
    let stamp = match stamp.split_once('_') {
        Some((s, n)) if n.bytes().all(|b| b.is_ascii_digit()) => s,
        _ => stamp,
    };
    if let Ok(t) = DateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S%z") {
        return Some(t.with_timezone(&Utc));
    }
    let naive = NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M")
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(stamp, "%Y%m%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })?;
    Local
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// The time of the newest snapper snapshot in `dir` (from each `<n>/info.xml`).
pub fn newest_snapper(dir: &Path) -> Option<DateTime<Utc>> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("info.xml")).ok())
        .filter_map(|xml| parse_snapper_info(&xml))
        .max()
}

fn newest_btrbk(dir: &Path) -> Option<DateTime<Utc>> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| parse_btrbk_name(&e.file_name().to_string_lossy()))
        .max()
}

/// The newest snapshots of the service in `folder`, for each kind that is configured.
pub fn newest(config: &Config, folder: &Path) -> Vec<Newest> {
    let mut found = Vec::new();
    if let Some(dir) = &config.snapshots_dir_snapper {
        let dir = folder.join(dir);
        if !dir.is_dir() {
            log::debug!("{}: not a folder", dir.display());
        }
        found.push(Newest {
            kind: "snapper",
            time: newest_snapper(&dir),
            max_age_hours: config.snapshots_max_age_snapper,
        });
    }
    if let Some(dir) = &config.snapshots_dir_btrbk {
        let dir = folder.join(dir);
        if !dir.is_dir() {
            log::debug!("{}: not a folder", dir.display());
        }
        found.push(Newest {
            kind: "btrbk",
            time: newest_btrbk(&dir),
            max_age_hours: config.snapshots_max_age_btrbk,
        });
    }
    found
}

/// Runs the check over all services, prints a table, and fails (exit 40) when a snapshot
/// is missing or too old.
pub fn run(config: &Config, json: bool, out: &mut dyn Write) -> Result<()> {
    let now = Utc::now();
    let dirs = services::discover(config)?;
    let io = |e| Error::io("standard output", e);
    let mut bad = Vec::new();
    let mut found = Vec::new();
    let mut rows = vec![[
        "SERVICE".to_owned(),
        "KIND".into(),
        "NEWEST".into(),
        "AGE".into(),
        "MAX".into(),
        "STATUS".into(),
    ]];
    for dir in &dirs {
        for n in newest(config, &dir.path) {
            let ok = n.ok(now);
            let status = if ok {
                "ok"
            } else if n.time.is_none() {
                "missing"
            } else {
                "too old"
            };
            if !ok {
                bad.push(format!("{} ({})", dir.name, n.kind));
            }
            rows.push([
                dir.name.clone(),
                n.kind.to_owned(),
                n.time.map_or("none".into(), |t| {
                    t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string()
                }),
                n.age_hours(now).map_or("-".into(), |a| format!("{a:.2}h")),
                format!("{:.2}h", n.max_age_hours),
                status.to_owned(),
            ]);
            found.push((dir.name.clone(), n, status));
        }
    }
    if json {
        let list: Vec<serde_json::Value> = found
            .iter()
            .map(|(service, n, status)| {
                serde_json::json!({
                    "service": service,
                    "kind": n.kind,
                    "newest": n.time.map(|t| t.to_rfc3339()),
                    "age_hours": n.age_hours(now),
                    "max_age_hours": n.max_age_hours,
                    "status": status,
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::json!({ "snapshots": list })).map_err(io)?;
    } else if rows.len() > 1 {
        crate::commands::report::table(&rows, out)?;
    }
    let nothing = if config.snapshots_dir_snapper.is_none() && config.snapshots_dir_btrbk.is_none()
    {
        Some("no snapshot folders configured: set SNAPSHOTS_DIR_SNAPPER (e.g. .snapshots) or SNAPSHOTS_DIR_BTRBK; nothing was checked")
    } else if dirs.is_empty() {
        Some("no services found; nothing was checked")
    } else {
        None
    };
    if let Some(nothing) = nothing {
        log::warn!("{nothing}");
        Ok(())
    } else if bad.is_empty() {
        log::info!("All required snapshots were found.");
        Ok(())
    } else {
        Err(Error::SnapshotsTooOld(bad))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapper_info_dates_are_utc() {
        let xml = "<?xml version=\"1.0\"?>\n<snapshot>\n  <type>single</type>\n  <num>3</num>\n  <date>2025-06-26 01:00:00</date>\n</snapshot>\n";
        assert_eq!(
            parse_snapper_info(xml).unwrap().to_rfc3339(),
            "2025-06-26T01:00:00+00:00"
        );
        assert!(parse_snapper_info("<snapshot/>").is_none());
    }

    #[test]
    fn btrbk_names_table() {
        let local = |s: &str| {
            let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
            Local
                .from_local_datetime(&naive)
                .earliest()
                .unwrap()
                .with_timezone(&Utc)
        };
        assert_eq!(
            parse_btrbk_name("app.20250626T0100"),
            Some(local("2025-06-26 01:00"))
        );
        assert_eq!(
            parse_btrbk_name("my.app.20250626T0100_2"),
            Some(local("2025-06-26 01:00"))
        );
        assert_eq!(
            parse_btrbk_name("app.20250626"),
            Some(local("2025-06-26 00:00"))
        );
        assert_eq!(
            parse_btrbk_name("app.20250626T010000+0200")
                .unwrap()
                .to_rfc3339(),
            "2025-06-25T23:00:00+00:00"
        );
        for bad in ["app", "app.latest", "app.2025T01", ".snapshots"] {
            assert!(parse_btrbk_name(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn age_limits() {
        let now = Utc::now();
        let n = |h: i64, max: f64| Newest {
            kind: "snapper",
            time: Some(now - chrono::Duration::hours(h)),
            max_age_hours: max,
        };
        assert!(n(1, 1.5).ok(now));
        assert!(!n(2, 1.5).ok(now));
        assert!(!Newest {
            time: None,
            ..n(0, 1.0)
        }
        .ok(now));
    }
}
