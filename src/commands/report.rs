//! What cipug prints on standard output: the settings and the run summary.

use crate::pipeline::record::summary::{short, Row};

use std::io::Write;

use crate::cli::ConfigFormat;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::pipeline::history::Event;
use crate::pipeline::select::status::{CheckReport, Status};

fn write_err(e: std::io::Error) -> Error {
    Error::io("standard output", e)
}

/// Prints the settings: `NAME=value` lines as the Python cipug did, or one JSON object.
pub fn config(config: &Config, format: ConfigFormat, out: &mut dyn Write) -> Result<()> {
    // NOTIFY_URL comes redacted: its URLs carry tokens.
    let value = config.to_json();
    let json = match format {
        ConfigFormat::Lines => None,
        ConfigFormat::Json => Some(value.clone()),
        ConfigFormat::PythonJson => Some(crate::config::python::python_shape(&value)),
    };
    if let Some(value) = json {
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

/// Prints rows (the first is the header, in bold) as left-aligned columns two spaces apart;
/// the last column is an outcome or status word, coloured by what it says. Colour reaches a
/// terminal only: standard output strips it elsewhere.
pub fn table<const N: usize>(rows: &[[String; N]], out: &mut dyn Write) -> Result<()> {
    let rows: Vec<[String; N]> = rows
        .iter()
        .map(|r| r.clone().map(|c| printable(&c)))
        .collect();
    let widths: Vec<usize> = (0..N)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for (index, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row[..N.saturating_sub(1)]
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}  "))
            .collect();
        let last = row.last().map(String::as_str).unwrap_or_default();
        let style = if index == 0 {
            anstyle::Style::new().bold()
        } else {
            outcome_style(last)
        };
        let line = format!("{}{style}{last}{style:#}", cells.concat());
        writeln!(out, "{}", line.trim_end()).map_err(write_err)?;
    }
    Ok(())
}

/// A cell with control characters escaped (`\n`, `\u{1b}`): nothing read from a file or
/// folder name can break a line or send terminal escapes.
pub fn printable(cell: &str) -> String {
    if cell.chars().any(char::is_control) {
        cell.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        cell.to_owned()
    }
}

/// The colour of an outcome word in tables (shown on terminals only).
fn outcome_style(outcome: &str) -> anstyle::Style {
    use anstyle::AnsiColor;
    let word = |w: &str| outcome.starts_with(w);
    if word("updated") || word("ok") || word("rollback") {
        AnsiColor::Green.on_default()
    } else if word("current") {
        AnsiColor::BrightBlack.on_default()
    } else if word("held")
        || word("rolled")
        || word("outdated")
        || word("unpinned")
        || word("waiting")
    {
        AnsiColor::Yellow.on_default().bold()
    } else {
        AnsiColor::Red.on_default().bold()
    }
}

/// Prints the summary of an update run: an aligned table with coloured outcomes (nothing when
/// there are no rows), or `{"results": [{"service","entry","old","new","outcome"}]}`.
pub fn summary(rows: &[Row], json: bool, out: &mut dyn Write) -> Result<()> {
    if json {
        let text = serde_json::to_string(&serde_json::json!({ "results": rows }))
            .map_err(|e| Error::io("standard output", e.into()))?;
        writeln!(out, "{text}").map_err(write_err)?;
        return Ok(());
    }
    if rows.is_empty() {
        return Ok(());
    }
    let mut table_rows = vec![[
        "SERVICE".to_owned(),
        "ENTRY".into(),
        "CHANGE".into(),
        "OUTCOME".into(),
    ]];
    table_rows.extend(rows.iter().map(|r| {
        [
            r.service.clone(),
            r.entry.clone(),
            r.change.clone(),
            r.outcome.clone(),
        ]
    }));
    table(&table_rows, out)?;
    let mut services: Vec<&Row> = rows.iter().filter(|r| !r.recreated.is_empty()).collect();
    services.dedup_by(|a, b| a.service == b.service);
    for row in services {
        writeln!(
            out,
            "{}: recreated {}",
            row.service,
            row.recreated.join(", ")
        )
        .map_err(write_err)?;
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
    let mut rows: Vec<[String; 7]> = vec![[
        "SERVICE".into(),
        "ENTRY".into(),
        "TAG".into(),
        "PINNED".into(),
        "LATEST".into(),
        "NEWER".into(),
        "STATUS".into(),
    ]];
    for service in &report.services {
        for image in &service.images {
            let status = match image.status {
                Status::Current => "current".to_owned(),
                Status::Outdated => "outdated".to_owned(),
                Status::Unpinned => "unpinned".to_owned(),
                // The word `update` uses for it.
                Status::HeldBack => "held back".to_owned(),
                Status::Waiting => crate::pipeline::select::cooldown::label_of(
                    image.adopt_after.as_deref(),
                    crate::pipeline::prepare::now(),
                ),
                Status::Error => format!("error: {}", image.error.as_deref().unwrap_or("")),
            };
            rows.push([
                service.name.clone(),
                image.entry.clone(),
                image.tagged.clone(),
                short(image.pinned.as_deref()),
                image
                    .latest
                    .as_deref()
                    .map_or("-".to_owned(), |l| short(Some(l))),
                image
                    .newer
                    .as_ref()
                    .filter(|n| n.any())
                    .map_or("-".to_owned(), |n| n.describe()),
                status,
            ]);
        }
    }
    table(&rows, out)
}

/// Prints history events: a table, or `{"events": [...]}`.
pub fn history(events: &[Event], json: bool, out: &mut dyn Write) -> Result<()> {
    if json {
        let text = serde_json::to_string(&serde_json::json!({ "events": events }))
            .map_err(|e| Error::io("standard output", e.into()))?;
        writeln!(out, "{text}").map_err(write_err)?;
        return Ok(());
    }
    let mut rows: Vec<[String; 7]> = vec![[
        "TIME".into(),
        "SERVICE".into(),
        "ENTRY".into(),
        "CHANGE".into(),
        "SNAPSHOTS".into(),
        "REASON".into(),
        "OUTCOME".into(),
    ]];
    for e in events {
        // A rollback on request keeps the state it replaced, not a failed one (older lines
        // of such rollbacks read the same way: they kept that state too).
        let kept = match e.outcome {
            crate::pipeline::history::Outcome::Rollback => "state before rollback",
            _ => "failed state",
        };
        let snapshots = match (e.snapshot_before, e.snapshot_failed) {
            (Some(b), Some(f)) => format!("{b}, {kept} {f}"),
            (Some(b), None) => b.to_string(),
            (None, Some(f)) => format!("{kept} {f}"),
            (None, None) => "-".into(),
        };
        rows.push([
            e.time.clone(),
            e.service.clone(),
            e.entry.clone(),
            match (&e.outcome, &e.message) {
                // An update's message says what changed (versions, source).
                (crate::pipeline::history::Outcome::Updated, Some(m)) => format!(
                    "{} -> {}, {m}",
                    short(e.old.as_deref()),
                    short(e.new.as_deref())
                ),
                _ => format!("{} -> {}", short(e.old.as_deref()), short(e.new.as_deref())),
            },
            snapshots,
            reason(e),
            e.outcome.as_str().to_owned(),
        ]);
    }
    table(&rows, out)
}

/// Why a change did not stay (the error of a rollback or failed pull, what a rollback on
/// request restored), on one line and cut at 100 characters; `-` for an update, whose
/// message is in the change column.
fn reason(e: &Event) -> String {
    let message = match (&e.outcome, &e.message) {
        (crate::pipeline::history::Outcome::Updated, _) | (_, None) => return "-".into(),
        (_, Some(m)) => m,
    };
    let line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(100) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_and_control_characters_neither_panic_nor_break_lines() {
        let pin = format!("a@sha256:a{}", "é".repeat(40));
        assert_eq!(short(Some(&pin)), format!("sha256:a{}", "é".repeat(11)));
        let rows = vec![
            ["SERVICE".to_owned(), "OUTCOME".to_owned()],
            ["bad\nname\u{1b}[31m".to_owned(), "updated".to_owned()],
            ["ünï".to_owned(), "ok".to_owned()],
        ];
        let mut out = Vec::new();
        table(&rows, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.contains("bad\\nname\\u{1b}[31m"), "{text}");
        assert!(!text.contains("\u{1b}[31m"), "{text}");
    }

    #[test]
    fn notify_url_is_redacted_in_both_forms() {
        let dir = tempfile::tempdir().unwrap();
        let sources = crate::config::Sources {
            env: [
                ("CIPUG_SERVICES_ROOT", dir.path().to_str().unwrap()),
                (
                    "CIPUG_NOTIFY_URL",
                    "https://u:pw@hooks.example/T0/s3cret?k=v",
                ),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
            cwd: dir.path().to_path_buf(),
            ..Default::default()
        };
        let config = Config::load(&sources).unwrap();
        for format in [
            ConfigFormat::Lines,
            ConfigFormat::Json,
            ConfigFormat::PythonJson,
        ] {
            let mut out = Vec::new();
            self::config(&config, format, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains("https://hooks.example/<redacted>"), "{text}");
            // Not `pw` alone: a temporary folder's name (`.tmpw...`) may hold it.
            assert!(!text.contains("s3cret") && !text.contains(":pw@"), "{text}");
        }
    }

    #[test]
    fn a_rollback_on_request_keeps_the_state_before_it_not_a_failed_one() {
        use crate::pipeline::history::Outcome;
        let event = |outcome| Event {
            time: "2026-01-01T00:00:00Z".into(),
            service: "svc".into(),
            entry: "APP".into(),
            old: Some("r@sha256:2".into()),
            new: Some("r@sha256:1".into()),
            outcome,
            snapshot_before: Some(4),
            snapshot_failed: Some(9),
            message: None,
        };
        let mut out = Vec::new();
        history(
            &[event(Outcome::RolledBack), event(Outcome::Rollback)],
            false,
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].contains("4, failed state 9"), "{text}");
        assert!(lines[2].contains("4, state before rollback 9"), "{text}");
        assert!(!lines[2].contains("failed"), "{text}");
        // The reason of a rollback, on one line and cut.
        let why = Event {
            message: Some(format!(
                "health gate:\n app_1 exited (exit code 1) {}",
                "x".repeat(200)
            )),
            ..event(Outcome::RolledBack)
        };
        let mut out = Vec::new();
        history(&[why], false, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.lines()
                .next()
                .unwrap()
                .contains("SNAPSHOTS          REASON"),
            "{text}"
        );
        let row = text.lines().nth(1).unwrap();
        assert!(
            row.contains("health gate: app_1 exited (exit code 1) xx"),
            "{text}"
        );
        assert!(row.contains("x...  "), "{text}");
    }
}
