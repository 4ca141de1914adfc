//! The metrics file (`METRICS_FILE`): after every `check` and `update`, the state and the
//! pinned digest of each entry, the age of each service's newest snapshot, the run's time and exit code and the
//! number of updates by outcome, in the Prometheus text format that node_exporter's textfile
//! collector reads. Written atomically, so the collector never sees half a file.

use std::path::{Path, PathBuf};

use prometheus::{Encoder, GaugeVec, IntCounterVec, Opts, Registry, TextEncoder};

use crate::pipeline::history::{Event, Outcome};
use crate::pipeline::service::Service;

/// Every status an entry can be in, as `cipug_entry_status{status}` lists them.
pub const STATUSES: &[&str] = &[
    "current",
    "outdated",
    "unpinned",
    "waiting",
    "held_back",
    "error",
];

/// One entry as the run left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryMetric {
    /// The service folder name.
    pub service: String,
    /// The `<X>` of the entry.
    pub entry: String,
    /// One of [`STATUSES`].
    pub status: &'static str,
    /// Whether a newer version tag exists.
    pub newer: bool,
    /// The digest (`sha256:...`) the entry is pinned to after the run, if any.
    pub digest: Option<String>,
}

/// The digest of a pin (`name@sha256:...`), or `None` for a pin without one.
pub fn digest_of(pin: &str) -> Option<String> {
    pin.rsplit_once('@').map(|(_, digest)| digest.to_owned())
}

/// What one run tells the metrics file.
#[derive(Debug, Clone, Default)]
pub struct RunMetrics {
    /// Every entry of the run.
    pub entries: Vec<EntryMetric>,
    /// Every service folder of the run (name, path), for the snapshot ages.
    pub services: Vec<(String, PathBuf)>,
    /// The run's exit code.
    pub exit_code: u8,
    /// When the run ended (Unix seconds).
    pub time: f64,
}

/// The status word of an update summary's outcome (`updated`, `held back`, `failed (33)`...).
pub fn status_of_outcome(outcome: &str) -> &'static str {
    let word = |w: &str| outcome.starts_with(w);
    if word("updated") || word("current") {
        "current"
    } else if word("held back") || word("rolled back") {
        // The next run holds a rolled-back digest back.
        "held_back"
    } else if word("waiting") {
        "waiting"
    } else {
        "error"
    }
}

/// The entries of an update run's summary, for the metrics file. A row for a whole service
/// that failed (no entry) stands for each of its entries.
pub fn from_update(
    rows: &[crate::pipeline::record::summary::Row],
    services: &[Service],
    newer: &crate::pipeline::select::newer::NewerTags,
) -> Vec<EntryMetric> {
    let has_newer = |service: &str, entry: &str| {
        services
            .iter()
            .filter(|s| s.dir.name == service)
            .flat_map(|s| &s.images)
            .filter(|i| i.entry == entry)
            .any(|i| newer.get(&i.tagged).is_some_and(|n| n.any()))
    };
    let mut entries = Vec::new();
    // An entry `update --pins` left alone was not looked at: no status to say.
    let looked_at = rows
        .iter()
        .filter(|r| r.outcome != crate::commands::update::rollout::NOT_IN_PINS);
    for row in looked_at {
        let status = status_of_outcome(&row.outcome);
        // The pin the run left: the new one when it was adopted, the old one otherwise.
        let kept = if row.outcome.starts_with("updated") {
            row.new.as_ref()
        } else {
            row.old.as_ref()
        };
        let names: Vec<(String, Option<String>)> = if row.entry.is_empty() {
            services
                .iter()
                .filter(|s| s.dir.name == row.service)
                .flat_map(|s| s.images.iter())
                .map(|i| (i.entry.clone(), i.pinned.as_deref().and_then(digest_of)))
                .collect()
        } else {
            vec![(row.entry.clone(), kept.and_then(|p| digest_of(p)))]
        };
        for (entry, digest) in names {
            entries.push(EntryMetric {
                newer: has_newer(&row.service, &entry),
                service: row.service.clone(),
                entry,
                status,
                digest,
            });
        }
    }
    entries
}

/// The entries of a check, for the metrics file.
pub fn from_check(report: &crate::pipeline::select::status::CheckReport) -> Vec<EntryMetric> {
    use crate::pipeline::select::status::Status;
    report
        .services
        .iter()
        .flat_map(|s| {
            s.images.iter().map(|i| EntryMetric {
                service: s.name.clone(),
                entry: i.entry.clone(),
                status: match i.status {
                    Status::Current => "current",
                    Status::Outdated => "outdated",
                    Status::Unpinned => "unpinned",
                    Status::Waiting => "waiting",
                    Status::HeldBack => "held_back",
                    Status::Error => "error",
                },
                newer: i.newer.as_ref().is_some_and(|n| n.any()),
                digest: i.pinned.as_deref().and_then(digest_of),
            })
        })
        .collect()
}

/// Why the metrics file was not written (a warning: the run's outcome stays as it is).
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The metrics library refused a family or could not encode it.
    #[error("metrics: {0}")]
    Prometheus(#[from] prometheus::Error),
    /// The encoded text is not UTF-8.
    #[error("metrics: {0}")]
    Text(#[from] std::string::FromUtf8Error),
    /// The file could not be written.
    #[error("{}: could not write the metrics: {source}", path.display())]
    Write {
        /// The metrics file.
        path: PathBuf,
        /// What writing it said.
        source: std::io::Error,
    },
}

/// A gauge family registered in `registry`.
fn gauge(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<GaugeVec, MetricsError> {
    let g = GaugeVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(g.clone()))?;
    Ok(g)
}

/// `cipug_entry_status` (one series per status, 1 for the entry's),
/// `cipug_entry_newer_available` and `cipug_entry_pin` (the digest as a label, so that a
/// fleet's digests of one entry can be compared).
fn entry_metrics(registry: &Registry, entries: &[EntryMetric]) -> Result<(), MetricsError> {
    let status = gauge(
        registry,
        "cipug_entry_status",
        "1 for the status the entry is in, 0 for the others",
        &["service", "entry", "status"],
    )?;
    let newer = gauge(
        registry,
        "cipug_entry_newer_available",
        "1 when a newer version tag of the entry's image exists",
        &["service", "entry"],
    )?;
    let pin = gauge(
        registry,
        "cipug_entry_pin",
        "1 for the digest the entry is pinned to",
        &["service", "entry", "digest"],
    )?;
    for e in entries {
        for s in STATUSES {
            let value = if *s == e.status { 1.0 } else { 0.0 };
            status
                .with_label_values(&[e.service.as_str(), e.entry.as_str(), s])
                .set(value);
        }
        newer
            .with_label_values(&[e.service.as_str(), e.entry.as_str()])
            .set(if e.newer { 1.0 } else { 0.0 });
        if let Some(digest) = &e.digest {
            pin.with_label_values(&[e.service.as_str(), e.entry.as_str(), digest.as_str()])
                .set(1.0);
        }
    }
    Ok(())
}

/// `cipug_updates_total{outcome}`, counted from the history.
fn update_counts(registry: &Registry, history: &[Event]) -> Result<(), MetricsError> {
    let updates = IntCounterVec::new(
        Opts::new(
            "cipug_updates_total",
            "entry updates by outcome, from the history",
        ),
        &["outcome"],
    )?;
    registry.register(Box::new(updates.clone()))?;
    for outcome in [
        Outcome::Updated,
        Outcome::RolledBack,
        Outcome::Failed,
        Outcome::Rollback,
    ] {
        let n = history.iter().filter(|e| e.outcome == outcome).count();
        updates
            .with_label_values(&[outcome.as_str().replace(' ', "_").as_str()])
            .inc_by(n as u64);
    }
    Ok(())
}

/// The metrics text for `run`, with the updates counted from `history` and the snapshot ages
/// `snapshot_ages` (service, seconds).
pub fn render(
    run: &RunMetrics,
    history: &[Event],
    snapshot_ages: &[(String, f64)],
) -> Result<String, MetricsError> {
    let registry = Registry::new();
    entry_metrics(&registry, &run.entries)?;
    let snapshot_age = gauge(
        &registry,
        "cipug_snapshot_age_seconds",
        "age of the newest snapper snapshot of the service",
        &["service"],
    )?;
    for (service, age) in snapshot_ages {
        snapshot_age
            .with_label_values(&[service.as_str()])
            .set(*age);
    }
    let no_labels: [&str; 0] = [];
    gauge(
        &registry,
        "cipug_last_run_timestamp_seconds",
        "when the last cipug run ended",
        &[],
    )?
    .with_label_values(&no_labels)
    .set(run.time);
    gauge(
        &registry,
        "cipug_last_run_exit_code",
        "exit code of the last cipug run",
        &[],
    )?
    .with_label_values(&no_labels)
    .set(f64::from(run.exit_code));
    update_counts(&registry, history)?;
    let mut text = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut text)?;
    Ok(String::from_utf8(text)?)
}

/// The age in seconds of the newest snapper snapshot of each service that has one, under
/// `snapshots_dir` (relative to the service folder).
pub fn snapshot_ages(
    services: &[(String, PathBuf)],
    snapshots_dir: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<(String, f64)> {
    services
        .iter()
        .filter_map(|(name, path)| {
            let newest =
                crate::commands::check_snapshots::newest_snapper(&path.join(snapshots_dir))?;
            Some((
                name.clone(),
                (now - newest).num_milliseconds() as f64 / 1000.0,
            ))
        })
        .collect()
}

/// Writes the metrics of `run` to `path` atomically (mode 0644: node_exporter reads it).
/// A failure is returned for the caller to log; it never changes the run's outcome.
pub fn write(
    path: &Path,
    run: &RunMetrics,
    history: &[Event],
    snapshots_dir: &str,
) -> Result<(), MetricsError> {
    let ages = snapshot_ages(&run.services, snapshots_dir, chrono::Utc::now());
    let text = render(run, history, &ages)?;
    crate::files::output::write(path, text.as_bytes(), 0o644).map_err(|source| {
        MetricsError::Write {
            path: path.to_owned(),
            source,
        }
    })
}

/// Writes the metrics file of a run if `METRICS_FILE` is set; a failure is a warning.
/// `dirs` are the service folders the run found (not looked for again).
pub fn record(
    config: &crate::config::Config,
    dirs: &[crate::services::ServiceDir],
    entries: Vec<EntryMetric>,
    exit_code: u8,
) {
    let Some(path) = &config.metrics_file else {
        return;
    };
    let services = dirs
        .iter()
        .map(|d| (d.name.clone(), d.path.clone()))
        .collect();
    let history = crate::pipeline::history::History::new(&config.state_dir)
        .events()
        .unwrap_or_default();
    let run = RunMetrics {
        entries,
        services,
        exit_code,
        time: crate::pipeline::prepare::now(),
    };
    let dir = config
        .snapshots_dir_snapper
        .as_deref()
        .unwrap_or(".snapshots");
    match write(path, &run, &history, dir) {
        Ok(()) => log::debug!("{}: metrics written", path.display()),
        Err(e) => log::warn!("{e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_map_to_statuses() {
        let cases = [
            ("updated", "current"),
            ("current", "current"),
            ("held back", "held_back"),
            ("rolled back (34)", "held_back"),
            ("waiting (5 h left)", "waiting"),
            ("waiting for window (opens Sat 01:00)", "waiting"),
            ("failed (33)", "error"),
        ];
        for (outcome, status) in cases {
            assert_eq!(status_of_outcome(outcome), status, "{outcome}");
        }
    }

    #[test]
    fn check_statuses_are_the_words_of_update_runs() {
        use crate::pipeline::select::status::{CheckReport, ImageCheck, ServiceCheck, Status};
        let image = |entry: &str, status| ImageCheck {
            entry: entry.into(),
            tagged: "a".into(),
            pinned: None,
            latest: None,
            status,
            error: None,
            newer: None,
            adopt_after: None,
        };
        let all = [
            (Status::Current, "current"),
            (Status::Outdated, "outdated"),
            (Status::Unpinned, "unpinned"),
            (Status::Waiting, "waiting"),
            (Status::HeldBack, "held_back"),
            (Status::Error, "error"),
        ];
        let report = CheckReport {
            services: vec![ServiceCheck {
                name: "svc".into(),
                images: all.iter().map(|(s, w)| image(w, *s)).collect(),
            }],
        };
        for (metric, (status, word)) in from_check(&report).iter().zip(all) {
            assert_eq!(metric.status, word, "{status:?}");
            assert!(STATUSES.contains(&metric.status));
            // The JSON of `check` says the same word as the metrics.
            assert_eq!(serde_json::to_value(status).unwrap(), word);
        }
        // A held-back digest is `held_back` whether `check` or `update` saw it last.
        assert_eq!(status_of_outcome("held back"), "held_back");
    }

    #[test]
    fn renders_the_text_format() {
        let run = RunMetrics {
            entries: vec![EntryMetric {
                service: "web \"a\"".into(),
                entry: "APP".into(),
                status: "waiting",
                newer: true,
                digest: Some(format!("sha256:{}", "a".repeat(64))),
            }],
            services: Vec::new(),
            exit_code: 34,
            time: 1_700_000_000.5,
        };
        let text = render(&run, &[], &[("web".into(), 90.0)]).unwrap();
        assert!(text.contains(
            "cipug_entry_status{entry=\"APP\",service=\"web \\\"a\\\"\",status=\"waiting\"} 1\n"
        ));
        assert!(text.contains("cipug_last_run_exit_code 34\n"), "{text}");
        assert!(
            text.contains("# TYPE cipug_updates_total counter\n"),
            "{text}"
        );
        assert!(text.contains("cipug_updates_total{outcome=\"rolled_back\"} 0\n"));
        assert!(text.contains("cipug_snapshot_age_seconds{service=\"web\"} 90\n"));
        let pin = format!(
            "cipug_entry_pin{{digest=\"sha256:{}\",entry=\"APP\",service=\"web \\\"a\\\"\"}} 1\n",
            "a".repeat(64)
        );
        assert!(text.contains(&pin), "{text}");
    }

    #[test]
    fn the_pin_metric_carries_the_digest_the_run_left() {
        use crate::pipeline::record::summary::Row;
        let d = |c: &str| format!("img@sha256:{}", c.repeat(64));
        let row = |entry: &str, outcome: &str| Row {
            new: Some(d("2")),
            ..Row::unchanged("web", entry, Some(&d("1")), outcome)
        };
        let rows = [
            row("A", "updated"),
            row("B", "rolled back (34)"),
            row("C", "current"),
            row("D", "waiting (5 h left)"),
        ];
        let newer = crate::pipeline::select::newer::NewerTags::default();
        let digests: Vec<Option<String>> = from_update(&rows, &[], &newer)
            .into_iter()
            .map(|e| e.digest)
            .collect();
        let digest = |c: &str| Some(format!("sha256:{}", c.repeat(64)));
        assert_eq!(
            digests,
            [digest("2"), digest("1"), digest("1"), digest("1")]
        );
        assert_eq!(digest_of("img"), None);
    }
}
