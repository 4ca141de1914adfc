//! One row of a run's summary per entry: what happened to it, built from the selection and
//! the outcomes.

use chrono::{DateTime, Local};

use crate::error::Error;
use crate::pipeline::select::Selected;
use crate::pipeline::service::{Change, Outcome, Service};

/// One line of the run summary.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Row {
    /// The service.
    pub service: String,
    /// The entry (`<X>`), or empty for the whole service.
    pub entry: String,
    /// `old -> new` with short digests, or empty.
    #[serde(skip)]
    pub change: String,
    /// The pin before.
    pub old: Option<String>,
    /// The pin tried.
    pub new: Option<String>,
    /// updated, updated (older digest), current, held back, waiting (N h left), waiting for
    /// window (opens Sat 01:00), rolled back (34), failed (<code>).
    pub outcome: String,
    /// Set when the pin tried is an older digest of the tag, adopted while the tag's newest
    /// cools down: how long ago it was seen, the newest and how long ago that was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adopted_older: Option<crate::pipeline::service::Older>,
    /// When a waiting change may be adopted (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adopt_after: Option<String>,
    /// When the window of a service waiting for it opens (RFC 3339, local offset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_opens: Option<String>,
    /// The containers the update of the service created (on its rows with outcome
    /// `updated`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recreated: Vec<String>,
}

impl Row {
    /// A row for a service that failed before any entry was looked at.
    pub fn failed(service: &str, entry: &str, error: &Error) -> Row {
        Row {
            service: service.to_owned(),
            entry: entry.to_owned(),
            change: String::new(),
            old: None,
            new: None,
            outcome: format!("failed ({})", error.exit_code()),
            adopted_older: None,
            adopt_after: None,
            window_opens: None,
            recreated: Vec::new(),
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
            old: change.old.clone(),
            new: Some(change.new.as_str().to_owned()),
            outcome: outcome.to_owned(),
            adopted_older: change.older.clone(),
            adopt_after: None,
            window_opens: None,
            recreated: Vec::new(),
        }
    }

    /// A row for an entry whose pin stays `pin`, with an outcome word (`current`, `not in
    /// pins`).
    pub fn unchanged(service: &str, entry: &str, pin: Option<&str>, outcome: &str) -> Row {
        Row {
            service: service.to_owned(),
            entry: entry.to_owned(),
            change: String::new(),
            old: pin.map(str::to_owned),
            new: pin.map(str::to_owned),
            outcome: outcome.to_owned(),
            adopted_older: None,
            adopt_after: None,
            window_opens: None,
            recreated: Vec::new(),
        }
    }

    /// A row for a change that waits for its cool-down.
    pub fn waiting(
        service: &str,
        waiting: &crate::pipeline::select::cooldown::Waiting,
        now: f64,
    ) -> Row {
        Row {
            adopt_after: Some(crate::pipeline::select::cooldown::rfc3339(
                waiting.adopt_after,
            )),
            ..Row::change(service, &waiting.change, &waiting.label(now))
        }
    }

    /// The rows for one service's outcome.
    pub fn from_outcome(service: &Service, outcome: &Outcome) -> Vec<Row> {
        let name = &service.dir.name;
        let mut recreated: &[String] = &[];
        let (changes, result) = match outcome {
            Outcome::Current => {
                return service
                    .images
                    .iter()
                    .map(|i| Row::unchanged(name, &i.entry, i.pinned.as_deref(), "current"))
                    .collect()
            }
            Outcome::Updated {
                changes,
                recreated: created,
                ..
            } => {
                recreated = created;
                (changes, "updated".to_owned())
            }
            Outcome::RolledBack { changes, .. } => (changes, "rolled back (34)".to_owned()),
            Outcome::Failed { changes, error, .. } => {
                (changes, format!("failed ({})", error.exit_code()))
            }
        };
        if changes.is_empty() {
            if let Outcome::Failed { error, .. } = outcome {
                return vec![Row::failed(name, "", error)];
            }
        }
        changes
            .iter()
            .map(|c| {
                let outcome = match (&c.older, outcome) {
                    (Some(_), Outcome::Updated { .. }) => "updated (older digest)".to_owned(),
                    _ => result.clone(),
                };
                Row {
                    recreated: recreated.to_vec(),
                    ..Row::change(name, c, &outcome)
                }
            })
            .collect()
    }
}

/// The rows of what the selection left of a service before its update, in this order: its
/// failure, or its notify-only digests (`available`), the changes waiting for their
/// cool-down, those held back after an earlier failure, and those waiting for the update
/// window. What it tries gets its rows from its outcome.
pub fn of_selection(selected: &Selected<'_>, now: f64) -> Vec<Row> {
    let name = &selected.service.dir.name;
    if let Some(error) = &selected.failed {
        return vec![Row::failed(name, "", error)];
    }
    let mut rows = available(name, &selected.available);
    rows.extend(selected.waiting.iter().map(|w| Row::waiting(name, w, now)));
    rows.extend(
        selected
            .held_back
            .iter()
            .map(|c| Row::change(name, c, "held back")),
    );
    if let Some(closed) = &selected.window {
        rows.extend(window(name, &closed.changes, &closed.opens));
    }
    rows
}

/// A row `available` for each new digest of an entry set to notify only.
pub fn available(service: &str, changes: &[Change]) -> Vec<Row> {
    changes
        .iter()
        .map(|c| Row::change(service, c, "available"))
        .collect()
}

/// A row for each change of `service` that waits for its window, opening at `opens`:
/// `waiting for window (opens Sat 01:00)`, with `window_opens`.
pub fn window(service: &str, changes: &[Change], opens: &DateTime<Local>) -> Vec<Row> {
    let label = crate::pipeline::select::window::label(opens);
    let time = opens.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    changes
        .iter()
        .map(|change| Row {
            window_opens: Some(time.clone()),
            ..Row::change(service, change, &label)
        })
        .collect()
}

/// A pin shortened to its digest's first 12 hex digits.
pub fn short(pin: Option<&str>) -> String {
    crate::formats::image::reference::short_pin(pin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::fixture::{NEW, OLD};
    use crate::pipeline::service::Older;
    use chrono::TimeZone;

    fn change(entry: &str) -> Change {
        crate::pipeline::fixture::change(entry, Some(OLD), NEW)
    }

    fn service() -> (tempfile::TempDir, Service) {
        let (root, _config, dir) = crate::pipeline::fixture::service(OLD);
        (root, crate::pipeline::service::load(&dir).unwrap())
    }

    fn outcomes(rows: &[Row]) -> Vec<(&str, &str)> {
        rows.iter()
            .map(|r| (r.entry.as_str(), r.outcome.as_str()))
            .collect()
    }

    #[test]
    fn the_rows_of_a_selection_in_their_order() {
        let (_root, service) = service();
        let opens = Local.with_ymd_and_hms(2026, 5, 2, 1, 0, 0).unwrap();
        let now = 1_000_000.0;
        let selected = Selected {
            service: &service,
            changes: vec![change("TRIED")],
            resume: None,
            dropped: false,
            available: vec![change("N")],
            failed: None,
            held_back: vec![change("H")],
            waiting: vec![crate::pipeline::select::cooldown::Waiting {
                change: change("W"),
                adopt_after: now + 5.0 * 3600.0,
            }],
            window: Some(crate::pipeline::select::Closed {
                opens,
                changes: vec![change("O")],
            }),
        };
        let rows = of_selection(&selected, now);
        assert_eq!(
            outcomes(&rows),
            [
                ("N", "available"),
                ("W", "waiting (5 h left)"),
                ("H", "held back"),
                ("O", "waiting for window (opens Sat 01:00)")
            ],
            "the change tried gets its row from its outcome"
        );
        assert!(rows[1].adopt_after.is_some());
        assert_eq!(
            rows[3].window_opens,
            Some(opens.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        );
        assert_eq!(rows[2].change, "sha256:111111111111 -> sha256:222222222222");
        let failed = Selected {
            failed: Some(Error::Env("bad".into())),
            ..selected
        };
        assert_eq!(outcomes(&of_selection(&failed, now)), [("", "failed (32)")]);
    }

    #[test]
    fn the_rows_of_each_outcome() {
        let (_root, service) = service();
        let older = Change {
            older: Some(Older {
                seen_ago: 3600,
                newest: NEW.into(),
                newest_ago: 60,
            }),
            ..change("B")
        };
        let cases: Vec<(Outcome, Vec<(&str, &str)>)> = vec![
            (Outcome::Current, vec![("APP", "current")]),
            (
                Outcome::Updated {
                    changes: vec![change("A"), older],
                    snapshot: None,
                    recreated: vec!["svc_app_2".into()],
                },
                vec![("A", "updated"), ("B", "updated (older digest)")],
            ),
            (
                Outcome::RolledBack {
                    changes: vec![change("A")],
                    error: Error::Restart("x".into()),
                    snapshots: (None, None),
                },
                vec![("A", "rolled back (34)")],
            ),
            (
                Outcome::Failed {
                    changes: Vec::new(),
                    error: Error::Pull("x".into()),
                    snapshot: None,
                    failed_snapshot: None,
                },
                vec![("", "failed (33)")],
            ),
        ];
        for (outcome, want) in cases {
            let rows = Row::from_outcome(&service, &outcome);
            assert_eq!(outcomes(&rows), want, "{outcome:?}");
            if let Outcome::Updated { .. } = outcome {
                assert!(rows.iter().all(|r| r.recreated == ["svc_app_2"]));
            }
        }
    }

    #[test]
    fn an_unchanged_row_keeps_its_pin_and_says_nothing_changed() {
        let row = Row::unchanged("svc", "APP", Some(OLD), "not in pins");
        assert_eq!(
            (row.old.as_deref(), row.new.as_deref()),
            (Some(OLD), Some(OLD))
        );
        assert_eq!(
            (row.change.as_str(), row.outcome.as_str()),
            ("", "not in pins")
        );
        let json = serde_json::to_value(&row).unwrap();
        assert!(
            json.get("change").is_none() && json.get("recreated").is_none(),
            "{json}"
        );
    }
}
