//! Notifications after an entry was updated, rolled back or failed: NOTIFY_COMMAND with the
//! details in `CIPUG_NOTIFY_*` environment variables, and a JSON POST to NOTIFY_URL. A
//! failing notification is logged and never fails the update.

use serde::Serialize;

use crate::adapters::runner::{Cmd, Runner, ToolKind};
use crate::config::Config;

/// What a notification says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// A one-line summary (ntfy, gotify and apprise show it as the title).
    pub title: String,
    /// The details (gotify's `message`).
    pub message: String,
    /// The same details (apprise's `body`).
    pub body: String,
    /// The service folder name.
    pub service: String,
    /// The `<X>` of the entry.
    pub entry: String,
    /// The pin before.
    pub old_pin: Option<String>,
    /// The pin tried.
    pub new_pin: Option<String>,
    /// updated, rolled back, failed, rollback.
    pub outcome: String,
}

impl Notification {
    /// A notification about one entry.
    pub fn new(
        service: &str,
        entry: &str,
        old: Option<&str>,
        new: Option<&str>,
        outcome: &str,
        message: &str,
    ) -> Self {
        let title = format!("cipug: {service} {outcome}");
        let message = if entry.is_empty() {
            // About the whole service (its tags could not be resolved): no pins to show.
            message.to_owned()
        } else if message.is_empty() {
            format!(
                "{entry}: {} -> {}",
                old.unwrap_or("(unpinned)"),
                new.unwrap_or("-")
            )
        } else {
            format!(
                "{entry}: {} -> {}: {message}",
                old.unwrap_or("(unpinned)"),
                new.unwrap_or("-")
            )
        };
        Notification {
            title,
            body: message.clone(),
            message,
            service: service.to_owned(),
            entry: entry.to_owned(),
            old_pin: old.map(str::to_owned),
            new_pin: new.map(str::to_owned),
            outcome: outcome.to_owned(),
        }
    }
}

/// Sends notifications as the settings say.
pub struct Notifier<'a> {
    config: &'a Config,
    runner: &'a dyn Runner,
}

impl<'a> Notifier<'a> {
    /// A notifier over `runner`.
    pub fn new(config: &'a Config, runner: &'a dyn Runner) -> Self {
        Notifier { config, runner }
    }

    /// Sends `note` by every configured way; failures are warnings.
    pub fn send(&self, note: &Notification) {
        if let Some(words) = &self.config.notify_command {
            let cmd = Cmd::from_words(words)
                .env("CIPUG_NOTIFY_SERVICE", &note.service)
                .env("CIPUG_NOTIFY_ENTRY", &note.entry)
                .env(
                    "CIPUG_NOTIFY_OLD_PIN",
                    note.old_pin.as_deref().unwrap_or(""),
                )
                .env(
                    "CIPUG_NOTIFY_NEW_PIN",
                    note.new_pin.as_deref().unwrap_or(""),
                )
                .env("CIPUG_NOTIFY_OUTCOME", &note.outcome)
                .env("CIPUG_NOTIFY_MESSAGE", &note.message)
                .kind(ToolKind::Notify);
            if let Err(e) = self.runner.run(&cmd) {
                log::warn!("notification command failed: {e}");
            }
        }
        if let Some(url) = &self.config.notify_url {
            let agent = ureq::Agent::config_builder()
                .timeout_global(Some(self.config.timeouts.notify))
                .build()
                .new_agent();
            let body = serde_json::to_string(note).unwrap_or_default();
            match agent
                .post(url.as_str())
                .header("Content-Type", "application/json")
                .header("Title", note.title.as_str())
                .send(body.as_bytes())
            {
                Ok(_) => {}
                Err(e) => log::warn!("notification to {} failed: {e}", redact(url)),
            }
        }
    }
}

/// A URL as shown in messages and `cipug config`: scheme and host only. User info, path
/// (webhook tokens live there: `/hooks/<token>`, ntfy topics), query and fragment may all
/// hold secrets.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<redacted>".to_owned();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if rest.len() > authority.len() && !matches!(&rest[authority.len()..], "/" | "") {
        format!("{scheme}://{host}/<redacted>")
    } else {
        format!("{scheme}://{host}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        for (url, shown) in [
            (
                "https://u:p@ntfy.sh/topic?auth=x",
                "https://ntfy.sh/<redacted>",
            ),
            (
                "http://gotify.local/message?token=abc",
                "http://gotify.local/<redacted>",
            ),
            (
                "https://hooks.slack.com/services/T0/B0/XYZ",
                "https://hooks.slack.com/<redacted>",
            ),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
            ("http://u@h.io?t=1", "http://h.io/<redacted>"),
            ("not a url s3cret", "<redacted>"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
        }
    }

    #[test]
    fn notification_json() {
        let n = Notification::new(
            "svc",
            "APP",
            Some("a@sha256:1"),
            Some("a@sha256:2"),
            "rolled back",
            "x is unhealthy",
        );
        let json = serde_json::to_value(&n).unwrap();
        assert_eq!(json["title"], "cipug: svc rolled back");
        assert_eq!(
            json["message"],
            "APP: a@sha256:1 -> a@sha256:2: x is unhealthy"
        );
        assert_eq!(json["body"], json["message"]);
        assert_eq!(json["old_pin"], "a@sha256:1");
    }
}
