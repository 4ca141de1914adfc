//! What an update changed, in words for the summary, the history and notifications: the tag
//! move (`tag 1.2.3 -> 1.2.5`), the image versions and source from their labels
//! (`29.0.1 -> 29.0.2`, `https://github.com/...`), whether this platform's image changed, and
//! the newer versions that exist.

use crate::report::Row;
use crate::update::Change;
use crate::version_tag::Newer;

/// The note about one change: its parts joined with `, `; empty when there is nothing to say.
pub fn note(change: &Change, newer: Option<&Newer>) -> String {
    let mut parts = Vec::new();
    if let Some(retag) = &change.retag {
        parts.push(format!("tag {} -> {}", retag.from, retag.to));
    }
    if let Some(n) = newer {
        // The tag moved to one of them: that one is not newer any more.
        let moved_to = change.retag.as_ref().map(|r| r.to.as_str());
        let keep = |t: &Option<String>| t.clone().filter(|t| Some(t.as_str()) != moved_to);
        let left = Newer {
            patch: keep(&n.patch),
            minor: keep(&n.minor),
            major: keep(&n.major),
        };
        if left.any() {
            parts.push(format!("newer: {}", left.describe()));
        }
    }
    parts.join(", ")
}

/// `error; note`, either part may be missing.
pub fn message(error: Option<&str>, note: &str) -> Option<String> {
    match (error.filter(|e| !e.is_empty()), note.is_empty()) {
        (None, true) => None,
        (None, false) => Some(note.to_owned()),
        (Some(e), true) => Some(e.to_owned()),
        (Some(e), false) => Some(format!("{e}; {note}")),
    }
}

/// Appends each entry's note to the CHANGE column of its rows of `service`.
pub fn annotate(rows: &mut [Row], service: &str, notes: &[(String, String)]) {
    for row in rows.iter_mut().filter(|r| r.service == service) {
        if let Some((_, note)) = notes.iter().find(|(e, n)| *e == row.entry && !n.is_empty()) {
            row.change = format!("{}, {note}", row.change);
        }
    }
}
