//! Per-entry update policy from the service's `.env`, next to the TAGGED line:
//! `SERVICE_<X>_IMAGE_UPDATE=auto|notify|off`. `auto` (the default) updates; `notify`
//! reports and notifies a new digest but never pins or restarts; `off` leaves the entry
//! alone (not resolved, not reported).

use crate::adapters::notify::{Notification, Notifier};
use crate::error::{Error, Result};
use crate::pipeline::plan::{Change, Service};
use crate::pipeline::summary::Row;

/// What to do when an entry's digest moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Pin, pull, restart (the default).
    Auto,
    /// Report and notify only.
    Notify,
    /// Leave the entry alone.
    Off,
}

/// The `.env` key of entry `x`'s policy.
pub fn key(x: &str) -> String {
    crate::formats::env_keys::UPDATE.key(x)
}

/// The policy of entry `x` of `service`; a value that is not one of the three is an error
/// naming the file and line (exit 32).
pub fn policy(service: &Service, x: &str) -> Result<Policy> {
    let key = key(x);
    let Some(entry) = service.env.get(&key) else {
        return Ok(Policy::Auto);
    };
    match entry.value.trim().to_ascii_lowercase().as_str() {
        "" | "auto" => Ok(Policy::Auto),
        "notify" => Ok(Policy::Notify),
        "off" => Ok(Policy::Off),
        other => Err(Error::Env(format!(
            "{}:{}: {key}=`{other}`: must be auto, notify or off",
            service.dir.env_file.display(),
            entry.line
        ))),
    }
}

/// `service` without its `off` entries, so they are neither resolved nor reported.
pub fn without_off(mut service: Service) -> Result<Service> {
    let mut kept = Vec::with_capacity(service.images.len());
    for image in std::mem::take(&mut service.images) {
        if policy(&service, &image.entry)? == Policy::Off {
            log::debug!(
                "{}: {} is off ({}=off), left alone",
                service.dir.name,
                image.entry,
                key(&image.entry)
            );
        } else {
            kept.push(image);
        }
    }
    service.images = kept;
    Ok(service)
}

/// Splits `changes` into those to apply and those only to report (`notify`).
pub fn split(service: &Service, changes: Vec<Change>) -> Result<(Vec<Change>, Vec<Change>)> {
    let mut apply = Vec::new();
    let mut report = Vec::new();
    for change in changes {
        match policy(service, &change.entry)? {
            Policy::Notify => report.push(change),
            _ => apply.push(change),
        }
    }
    Ok((apply, report))
}

/// Reports new digests of `notify` entries: a warning, a summary row `available`, and a
/// notification (outcome `available`) unless `notifier` is `None` (dry run). Sent on every run
/// while the tag points elsewhere than the pin.
pub fn report(service: &str, available: &[Change], notifier: Option<&Notifier>) -> Vec<Row> {
    let mut rows = Vec::new();
    for change in available {
        log::warn!(
            "{service}: {} has a new digest {} ({}=notify: not updated)",
            change.entry,
            change.new,
            key(&change.entry)
        );
        rows.push(Row::change(service, change, "available"));
        if let Some(notifier) = notifier {
            notifier.send(&Notification::new(
                service,
                &change.entry,
                change.old.as_deref(),
                Some(change.new.as_str()),
                "available",
                "",
            ));
        }
    }
    rows
}
