//! One row of a run's summary per entry: what happened to it, built from the outcomes.

use crate::error::Error;
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

/// A pin shortened to its digest's first 12 hex digits.
pub fn short(pin: Option<&str>) -> String {
    crate::formats::image::reference::short_pin(pin)
}
