//! What cipug prints on standard output: the settings and the run summary.

use std::io::Write;

use crate::check::{CheckReport, Status};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::history::Event;
use crate::update::{Change, Outcome, Service};

fn write_err(e: std::io::Error) -> Error {
    Error::io("standard output", e)
}

/// Prints the settings: `NAME=value` lines as the Python cipug did, or one JSON object.
pub fn config(config: &Config, json: bool, out: &mut dyn Write) -> Result<()> {
    let value = config.to_json();
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        )
        .map_err(write_err)?;
        return Ok(());
    }
    if let Some(map) = value.as_object() {
        for (key, v) in map {
            let shown = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => String::new(),
                serde_json::Value::Array(items) => items
                    .iter()
                    .filter_map(|i| i.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            writeln!(out, "{key}={shown}").map_err(write_err)?;
        }
    }
    Ok(())
}

/// One line of the run summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The service.
    pub service: String,
    /// The entry (`<X>`), or empty for the whole service.
    pub entry: String,
    /// `old -> new`, or empty.
    pub change: String,
    /// updated, current, failed (exit code).
    pub outcome: String,
}

impl Row {
    /// A row for a service that failed before any entry was looked at.
    pub fn failed(service: &str, entry: &str, error: &Error) -> Row {
        Row {
            service: service.to_owned(),
            entry: entry.to_owned(),
            change: String::new(),
            outcome: format!("failed ({})", error.exit_code()),
        }
    }

    /// A row for one change with an outcome word.
    pub fn change(service: &str, change: &Change, outcome: &str) -> Row {
        Row {
            service: service.to_owned(),
            entry: change.entry.clone(),
            change: format!(
                "{} -> {}",
                short(change.old.as_deref()),
                short(Some(change.new.as_str()))
            ),
            outcome: outcome.to_owned(),
        }
    }

    /// The rows for one service's outcome.
    pub fn from_outcome(service: &Service, outcome: &Outcome) -> Vec<Row> {
        let name = &service.dir.name;
        match outcome {
            Outcome::Current => service
                .images
                .iter()
                .map(|i| Row {
                    service: name.clone(),
                    entry: i.entry.clone(),
                    change: String::new(),
                    outcome: "current".into(),
                })
                .collect(),
            Outcome::Updated { changes, .. } | Outcome::Failed { changes, .. }
                if !changes.is_empty() =>
            {
                let result = match outcome {
                    Outcome::Failed { error, .. } => format!("failed ({})", error.exit_code()),
                    _ => "updated".into(),
                };
                changes
                    .iter()
                    .map(|c| Row {
                        service: name.clone(),
                        entry: c.entry.clone(),
                        change: format!(
                            "{} -> {}",
                            short(c.old.as_deref()),
                            short(Some(c.new.as_str()))
                        ),
                        outcome: result.clone(),
                    })
                    .collect()
            }
            Outcome::Failed { error, .. } | Outcome::RolledBack { error, .. } => {
                vec![Row::failed(name, "", error)]
            }
            Outcome::Updated { .. } => Vec::new(),
        }
    }
}

/// A pin shortened to its digest's first 12 hex digits.
fn short(pin: Option<&str>) -> String {
    match pin.and_then(|p| p.rsplit_once("@sha256:")) {
        Some((_, hex)) => format!("sha256:{}", &hex[..hex.len().min(12)]),
        None => pin.unwrap_or("(unpinned)").to_owned(),
    }
}

/// Prints the aligned summary table of an update run (nothing when there are no rows).
pub fn summary(rows: &[Row], out: &mut dyn Write) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let header = Row {
        service: "SERVICE".into(),
        entry: "ENTRY".into(),
        change: "CHANGE".into(),
        outcome: "OUTCOME".into(),
    };
    let all: Vec<&Row> = std::iter::once(&header).chain(rows).collect();
    let w1 = all.iter().map(|r| r.service.len()).max().unwrap_or(0);
    let w2 = all.iter().map(|r| r.entry.len()).max().unwrap_or(0);
    let w3 = all.iter().map(|r| r.change.len()).max().unwrap_or(0);
    for r in all {
        let line = format!(
            "{:<w1$}  {:<w2$}  {:<w3$}  {}",
            r.service, r.entry, r.change, r.outcome
        );
        writeln!(out, "{}", line.trim_end()).map_err(write_err)?;
    }
    Ok(())
}

/// Prints the check: an aligned table, or the JSON shape documented in the README.
pub fn check(report: &CheckReport, json: bool, out: &mut dyn Write) -> Result<()> {
    if json {
        let text =
            serde_json::to_string(report).map_err(|e| Error::io("standard output", e.into()))?;
        writeln!(out, "{text}").map_err(write_err)?;
        return Ok(());
    }
    let mut rows: Vec<[String; 5]> = vec![[
        "SERVICE".into(),
        "ENTRY".into(),
        "PINNED".into(),
        "LATEST".into(),
        "STATUS".into(),
    ]];
    for service in &report.services {
        for image in &service.images {
            let status = match image.status {
                Status::Current => "current".to_owned(),
                Status::Outdated => "outdated".to_owned(),
                Status::Unpinned => "unpinned".to_owned(),
                Status::Error => format!("error: {}", image.error.as_deref().unwrap_or("")),
            };
            rows.push([
                service.name.clone(),
                image.entry.clone(),
                short(image.pinned.as_deref()),
                image
                    .latest
                    .as_deref()
                    .map_or("-".to_owned(), |l| short(Some(l))),
                status,
            ]);
        }
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end()).map_err(write_err)?;
    }
    Ok(())
}

/// Prints history events: a table, or `{"events": [...]}`.
pub fn history(events: &[Event], json: bool, out: &mut dyn Write) -> Result<()> {
    if json {
        let text = serde_json::to_string(&serde_json::json!({ "events": events }))
            .map_err(|e| Error::io("standard output", e.into()))?;
        writeln!(out, "{text}").map_err(write_err)?;
        return Ok(());
    }
    let mut rows: Vec<[String; 6]> = vec![[
        "TIME".into(),
        "SERVICE".into(),
        "ENTRY".into(),
        "CHANGE".into(),
        "OUTCOME".into(),
        "SNAPSHOTS".into(),
    ]];
    for e in events {
        let snapshots = match (e.snapshot_before, e.snapshot_failed) {
            (Some(b), Some(f)) => format!("{b}, failed state {f}"),
            (Some(b), None) => b.to_string(),
            (None, Some(f)) => format!("failed state {f}"),
            (None, None) => "-".into(),
        };
        rows.push([
            e.time.clone(),
            e.service.clone(),
            e.entry.clone(),
            format!("{} -> {}", short(e.old.as_deref()), short(e.new.as_deref())),
            e.outcome.as_str().to_owned(),
            snapshots,
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end()).map_err(write_err)?;
    }
    Ok(())
}
