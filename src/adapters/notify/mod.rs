//! Notifications after an entry was updated, rolled back or failed: NOTIFY_COMMAND with the
//! details in `CIPUG_NOTIFY_*` environment variables and a JSON POST to each `http(s)://`
//! URL of NOTIFY_URL, once per notification; the chat and mail services of NOTIFY_URL
//! ([`services`], [`mail`]) get one summary per run and a message per failure or rollback
//! ([`message`]). All are sent together when the run ends, within one `NOTIFY_TIMEOUT`
//! for the whole run. A failing notification is logged and never fails the update.

pub mod mail;
pub mod message;
pub mod services;

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::adapters::notify::message::Message;
use crate::adapters::runner::{Cmd, Runner, ToolKind};
use crate::base::parallel::parallel_map;
use crate::config::Config;
use crate::formats::notify_url::{NotifyUrl, Target};

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

/// Notifications sent at the same time at most, when a run ends.
pub const SENDERS: usize = 16;

/// Collects a run's notifications and sends them when the run ends ([`Notifier::flush`],
/// or when it is dropped): all of them together, [`SENDERS`] at a time, within one
/// `NOTIFY_TIMEOUT` for the whole run. However many services failed and however slow the
/// receiver, the notifications add at most `NOTIFY_TIMEOUT` (plus the runner's two seconds
/// for the pipes of a killed command) to a run; what could not be sent by then is dropped
/// with a warning naming how many.
pub struct Notifier<'a> {
    config: &'a Config,
    runner: &'a dyn Runner,
    queue: std::sync::Mutex<Vec<Notification>>,
}

impl<'a> Notifier<'a> {
    /// A notifier over `runner`.
    pub fn new(config: &'a Config, runner: &'a dyn Runner) -> Self {
        Notifier {
            config,
            runner,
            queue: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Queues `note`, to be sent by every configured way when the run ends.
    pub fn send(&self, note: &Notification) {
        if self.config.notify_command.is_none() && self.config.notify_urls.is_empty() {
            return;
        }
        if let Ok(mut queue) = self.queue.lock() {
            queue.push(note.clone());
        }
    }

    /// Sends what was queued, concurrently, within one `NOTIFY_TIMEOUT`; failures are
    /// warnings.
    pub fn flush(&self) {
        let notes = self
            .queue
            .lock()
            .map(|mut queue| std::mem::take(&mut *queue))
            .unwrap_or_default();
        if notes.is_empty() {
            return;
        }
        let urls = &self.config.notify_urls;
        let is_webhook = |u: &&NotifyUrl| matches!(u.target, Target::Webhook { .. });
        let messages = if urls.iter().any(|u| !is_webhook(&u)) {
            message::of_run(&notes)
        } else {
            Vec::new()
        };
        let mut jobs = Vec::new();
        for note in &notes {
            if self.config.notify_command.is_some() {
                jobs.push(Job::Command(note));
            }
            jobs.extend(
                urls.iter()
                    .filter(is_webhook)
                    .map(|u| Job::Webhook(u, note)),
            );
        }
        for message in &messages {
            jobs.extend(
                urls.iter()
                    .filter(|u| !is_webhook(u))
                    .map(|u| Job::Service(u, message)),
            );
        }
        let deadline = Instant::now() + self.config.timeouts.notify;
        let sent = parallel_map(&jobs, SENDERS, |job| {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.deliver(job, left);
            true
        });
        let late = sent.iter().filter(|&&sent| !sent).count();
        if late > 0 {
            log::warn!(
                "{late} of {} notification(s) not sent: NOTIFY_TIMEOUT ({} s for all notifications of the run) passed",
                jobs.len(),
                self.config.timeouts.notify.as_secs()
            );
        }
    }

    /// Runs `job` within `limit`; a failure is a warning.
    fn deliver(&self, job: &Job<'_>, limit: Duration) {
        match job {
            Job::Command(note) => {
                let Some(words) = &self.config.notify_command else {
                    return;
                };
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
                    .kind(ToolKind::Notify)
                    .limit(limit);
                if let Err(e) = self.runner.run(&cmd) {
                    log::warn!("notification command failed: {e}");
                }
            }
            Job::Webhook(url, note) => {
                let Target::Webhook { url: address } = &url.target else {
                    return;
                };
                let agent = ureq::Agent::config_builder()
                    .timeout_global(Some(limit))
                    .build()
                    .new_agent();
                let body = serde_json::to_string(note).unwrap_or_default();
                let sent = agent
                    .post(address.as_str())
                    .header("Content-Type", "application/json")
                    .header("Title", note.title.as_str())
                    .send(body.as_bytes());
                if let Err(e) = sent {
                    warn_failed(url, &e.to_string());
                }
            }
            Job::Service(url, message) => {
                let sent = match &url.target {
                    Target::Smtp(mail) => {
                        mail::send(mail, message, limit).map_err(|e| e.to_string())
                    }
                    target => services::send(target, message, limit).map_err(|e| e.to_string()),
                };
                if let Err(e) = sent {
                    warn_failed(url, &e);
                }
            }
        }
    }
}

/// One thing to send.
enum Job<'a> {
    /// NOTIFY_COMMAND for one notification.
    Command(&'a Notification),
    /// The JSON POST of one notification to a webhook.
    Webhook(&'a NotifyUrl, &'a Notification),
    /// A message to a chat or mail service.
    Service(&'a NotifyUrl, &'a Message),
}

/// Warns that sending to `url` failed, with every secret of the URL cut out of `error`
/// (a service or library may quote the address it could not reach).
fn warn_failed(url: &NotifyUrl, error: &str) {
    let mut error = error.to_owned();
    for secret in &url.secrets {
        error = error.replace(secret.as_str(), "<redacted>");
    }
    log::warn!("notification to {} failed: {error}", url.shown);
}

impl Drop for Notifier<'_> {
    /// A run that ends early (an error, a panic) still sends what it queued.
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn config(env: &[(&str, &str)]) -> Config {
        let vars: Vec<(String, &str)> = env
            .iter()
            .map(|(k, v)| (format!("CIPUG_{k}"), *v))
            .collect();
        let mut all: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        all.push(("CIPUG_SERVICES_ROOT", "/srv"));
        Config::for_tests(&all, std::path::Path::new("/"))
    }

    fn failed(i: usize) -> Notification {
        Notification::new(&format!("svc{i}"), "APP", None, None, "failed", "boom")
    }

    #[test]
    fn a_webhook_that_never_answers_costs_one_timeout_for_the_whole_run() {
        // Accepts every connection and never answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let accepted = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&accepted);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                held.push(stream);
            }
        });
        let config = config(&[("NOTIFY_URL", &url), ("NOTIFY_TIMEOUT", "2")]);
        let runner = crate::adapters::runner::SystemRunner::new(config.timeouts);
        let notifier = Notifier::new(&config, &runner);
        for i in 0..20 {
            notifier.send(&failed(i));
        }
        let started = Instant::now();
        notifier.flush();
        let took = started.elapsed();
        eprintln!("took {took:?}");
        // One after another, this took 20 x 2 s.
        assert!(took < std::time::Duration::from_secs(5), "{took:?}");
        assert!(accepted.load(Ordering::SeqCst) >= SENDERS, "sent together");
    }

    #[test]
    fn lingering_notify_commands_are_bounded_together() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sent");
        let command = format!(
            "sh -c 'sleep 40 & echo $CIPUG_NOTIFY_SERVICE >> {}; echo notified'",
            log.display()
        );
        let config = config(&[("NOTIFY_COMMAND", &command), ("NOTIFY_TIMEOUT", "2")]);
        let runner = crate::adapters::runner::SystemRunner::new(config.timeouts);
        let started = Instant::now();
        {
            let notifier = Notifier::new(&config, &runner);
            for i in 0..20 {
                notifier.send(&failed(i));
            }
            // Dropped: sent on the way out.
        }
        let took = started.elapsed();
        eprintln!("took {took:?}");
        // 2 s for all, plus the runner's 2 s for the pipes of what it killed.
        assert!(took < std::time::Duration::from_secs(8), "{took:?}");
        let sent = std::fs::read_to_string(&log).unwrap();
        assert_eq!(sent.lines().count(), 16, "{sent}");
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
