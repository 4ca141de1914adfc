//! What the chat and mail services of NOTIFY_URL get: one message per run that lists every
//! notification of the run (service, entry, old -> new short digests, outcome), and one
//! message of its own per failure or rollback, which someone may have to act on.

use crate::adapters::notify::Notification;
use crate::formats::image::reference::short_pin;

/// A message to a chat or mail service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The title (ntfy's Title, gotify's title, the mail's subject; a first line elsewhere).
    pub title: String,
    /// The text.
    pub text: String,
    /// About a failure or rollback: ntfy and gotify are asked for a higher priority.
    pub urgent: bool,
}

/// The outcomes that get a message of their own.
fn urgent(outcome: &str) -> bool {
    matches!(
        outcome,
        "failed" | "pull failed" | "rolled back" | "rollback"
    )
}

/// The messages of a run's notifications: the summary, unless every notification has a
/// message of its own anyway, then one per failure or rollback.
pub fn of_run(notes: &[Notification]) -> Vec<Message> {
    let mut out = Vec::new();
    if notes.iter().any(|n| !urgent(&n.outcome)) {
        out.push(summary(notes));
    }
    out.extend(
        notes
            .iter()
            .filter(|n| urgent(&n.outcome))
            .map(|n| Message {
                title: n.title.clone(),
                text: n.message.clone(),
                urgent: true,
            }),
    );
    out
}

/// `cipug: 2 updated, 1 failed` and one line per notification.
fn summary(notes: &[Notification]) -> Message {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for note in notes {
        match counts.iter_mut().find(|(o, _)| *o == note.outcome) {
            Some((_, n)) => *n += 1,
            None => counts.push((&note.outcome, 1)),
        }
    }
    let counted: Vec<String> = counts.iter().map(|(o, n)| format!("{n} {o}")).collect();
    let lines: Vec<String> = notes.iter().map(line).collect();
    Message {
        title: format!("cipug: {}", counted.join(", ")),
        text: lines.join("\n"),
        urgent: notes.iter().any(|n| urgent(&n.outcome)),
    }
}

/// `svc APP: sha256:0123456789ab -> sha256:ba9876543210 updated`, or for a notification
/// without a new pin (a newer tag, a service that failed as a whole) its message.
fn line(note: &Notification) -> String {
    match &note.new_pin {
        Some(new) if !note.entry.is_empty() => format!(
            "{} {}: {} -> {} {}",
            note.service,
            note.entry,
            short_pin(note.old_pin.as_deref()),
            short_pin(Some(new)),
            note.outcome
        ),
        _ => format!("{} {}: {}", note.service, note.outcome, note.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(c: char) -> String {
        format!(
            "docker.io/library/nginx@sha256:{}",
            c.to_string().repeat(64)
        )
    }

    #[test]
    fn one_summary_per_run_and_one_message_per_failure_or_rollback() {
        let (a, b) = (pin('a'), pin('b'));
        let notes = [
            Notification::new("web", "APP", Some(&a), Some(&b), "updated", ""),
            Notification::new(
                "db",
                "DB",
                Some(&b),
                Some(&a),
                "rolled back",
                "db is unhealthy",
            ),
            Notification::new("dns", "", None, None, "failed", "registry said 401"),
        ];
        let messages = of_run(&notes);
        assert_eq!(messages.len(), 3, "{messages:#?}");
        assert_eq!(
            messages[0].title,
            "cipug: 1 updated, 1 rolled back, 1 failed"
        );
        assert_eq!(
            messages[0].text,
            "web APP: sha256:aaaaaaaaaaaa -> sha256:bbbbbbbbbbbb updated\n\
             db DB: sha256:bbbbbbbbbbbb -> sha256:aaaaaaaaaaaa rolled back\n\
             dns failed: registry said 401"
        );
        assert!(messages[0].urgent);
        assert_eq!(messages[1].title, "cipug: db rolled back");
        assert!(messages[1].text.ends_with(": db is unhealthy"));
        assert_eq!(messages[2].text, "registry said 401");
    }

    #[test]
    fn a_run_of_failures_only_is_not_summarised_again() {
        let notes = [Notification::new("x", "", None, None, "failed", "boom")];
        assert_eq!(of_run(&notes).len(), 1);
        let quiet = [Notification::new(
            "x",
            "APP",
            None,
            Some(&pin('c')),
            "updated",
            "",
        )];
        let messages = of_run(&quiet);
        assert_eq!(messages.len(), 1);
        assert!(!messages[0].urgent);
        assert_eq!(
            messages[0].text,
            "x APP: (unpinned) -> sha256:cccccccccccc updated"
        );
    }
}
