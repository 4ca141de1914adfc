//! Per-entry update policy from the service's `.env`, next to the TAGGED line:
//! `SERVICE_<X>_IMAGE_UPDATE=auto|notify|off`. `auto` (the default) updates; `notify`
//! reports and notifies a new digest but never pins or restarts; `off` leaves the entry
//! alone (not resolved, not reported).

use crate::adapters::notify::Notification;
use crate::error::{Error, Result};
use crate::pipeline::service::{Change, Service};

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
        other => Err(Error::Env(
            format!(
                "{}:{}: {key}=`{other}`: must be auto, notify or off",
                service.dir.env_file.display(),
                entry.line
            )
            .into(),
        )),
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

/// Logs the new digests of `notify` entries of `service`, a warning each; reported on every
/// run while the tag points elsewhere than the pin (their rows:
/// [`crate::pipeline::record::summary::available`], their notifications: [`notification`]).
pub fn log_available(service: &str, available: &[Change]) {
    for change in available {
        log::warn!(
            "{service}: {} has a new digest {} ({}=notify: not updated)",
            change.entry,
            change.new,
            key(&change.entry)
        );
    }
}

/// The notification of a new digest of a `notify` entry (outcome `available`).
pub fn notification(service: &str, change: &Change) -> Notification {
    Notification::new(
        service,
        &change.entry,
        change.old.as_deref(),
        Some(change.new.as_str()),
        "available",
        "",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::fixture::{NEW, OLD};

    /// The fixture service with `lines` added to its `.env`: entries APP, DB and WEB.
    fn service(lines: &str) -> (tempfile::TempDir, Service) {
        let (root, _config, dir) = crate::pipeline::fixture::service(OLD);
        std::fs::write(
            &dir.env_file,
            format!(
                "SERVICE_APP_IMAGE_TAGGED=r.io/app:1\nSERVICE_DB_IMAGE_TAGGED=r.io/db:1\nSERVICE_WEB_IMAGE_TAGGED=r.io/web:1\n{lines}"
            ),
        )
        .unwrap();
        let service = crate::pipeline::service::load(&dir).unwrap();
        (root, service)
    }

    fn change(entry: &str) -> Change {
        crate::pipeline::fixture::change(entry, Some(OLD), NEW)
    }

    #[test]
    fn each_value_and_a_wrong_one() {
        let (_root, s) = service(
            "SERVICE_APP_IMAGE_UPDATE= Notify\nSERVICE_DB_IMAGE_UPDATE=off\nSERVICE_WEB_IMAGE_UPDATE=\n",
        );
        assert_eq!(
            policy(&s, "APP").unwrap(),
            Policy::Notify,
            "trimmed, any case"
        );
        assert_eq!(policy(&s, "DB").unwrap(), Policy::Off);
        assert_eq!(
            policy(&s, "WEB").unwrap(),
            Policy::Auto,
            "empty: the default"
        );
        assert_eq!(policy(&s, "NONE").unwrap(), Policy::Auto);
        let (_root, bad) = service("SERVICE_APP_IMAGE_UPDATE=sometimes\n");
        let e = policy(&bad, "APP").unwrap_err();
        assert_eq!(e.exit_code(), 32);
        assert!(
            e.to_string()
                .contains(".env:4: SERVICE_APP_IMAGE_UPDATE=`sometimes`"),
            "{e}"
        );
    }

    #[test]
    fn off_entries_are_dropped_and_notify_ones_only_reported() {
        let (_root, s) = service("SERVICE_APP_IMAGE_UPDATE=notify\nSERVICE_DB_IMAGE_UPDATE=off\n");
        let kept = without_off(s.clone()).unwrap();
        let entries: Vec<&str> = kept.images.iter().map(|i| i.entry.as_str()).collect();
        assert_eq!(entries, ["APP", "WEB"]);
        let (apply, report_only) = split(&s, vec![change("APP"), change("WEB")]).unwrap();
        assert_eq!(apply, [change("WEB")]);
        assert_eq!(report_only, [change("APP")]);
        let rows = crate::pipeline::record::summary::available("svc", &report_only);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].entry.as_str(), rows[0].outcome.as_str()),
            ("APP", "available")
        );
    }
}
