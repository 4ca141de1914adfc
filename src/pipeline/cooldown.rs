//! The cool-down (`MIN_AGE`, per entry `SERVICE_<X>_IMAGE_MIN_AGE`): a new digest is adopted
//! only once cipug has seen it behind its tag for that many hours. Broken releases are often
//! replaced within hours; a digest replaced before its cool-down ends is never installed.

use crate::config::Config;
use crate::formats::image_ref::Pin;
use crate::pipeline::first_seen::FirstSeen;
use crate::pipeline::plan::{Change, Service};
use crate::pipeline::status::{ServiceCheck, Status};
use crate::resolve::Resolutions;

/// A change that waits for its cool-down.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    /// The change it would be.
    pub change: Change,
    /// When it may be adopted (Unix seconds).
    pub adopt_after: f64,
}

impl Waiting {
    /// `waiting (5 h left)`, hours rounded up.
    pub fn label(&self, now: f64) -> String {
        label(self.adopt_after, now)
    }
}

/// `waiting (N h left)` for a change adoptable at `adopt_after`, hours rounded up.
pub fn label(adopt_after: f64, now: f64) -> String {
    let hours = ((adopt_after - now) / 3600.0).ceil().max(1.0);
    format!("waiting ({hours} h left)")
}

/// `adopt_after` as RFC 3339 in UTC.
pub fn rfc3339(time: f64) -> String {
    chrono::DateTime::from_timestamp(time as i64, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The cool-down of `entry` of `service` in hours: `SERVICE_<X>_IMAGE_MIN_AGE` from its `.env`,
/// else `MIN_AGE`. A value that is not a number of hours is a warning and the setting applies.
pub fn min_age(config: &Config, service: &Service, entry: &str) -> f64 {
    let key = crate::formats::env_keys::MIN_AGE.key(entry);
    match service.env.variables().get(&key) {
        None => config.min_age,
        Some(text) => match text.trim().parse::<f64>() {
            Ok(h) if h.is_finite() && h >= 0.0 => h,
            _ => {
                log::warn!(
                    "{}: {key}=`{text}` is not a number of hours; MIN_AGE ({}) applies",
                    service.dir.env_file.display(),
                    config.min_age
                );
                config.min_age
            }
        },
    }
}

/// Records when each resolved digest of `service` was first seen behind its tag.
pub fn record(service: &Service, resolutions: &Resolutions, seen: &mut FirstSeen, now: f64) {
    for image in &service.images {
        if let Some(Ok(pin)) = resolutions.get(&image.tagged) {
            seen.see(&image.tagged, pin.digest(), now);
        }
    }
}

/// When `new` (behind `entry`'s tag, or behind `moved_to` when the tag moves) may be adopted,
/// or `None` when it may be now. An entry without a pin has nothing to fall back on and is
/// pinned at once.
pub fn adopt_after(
    config: &Config,
    service: &Service,
    entry: &str,
    (new, moved_to): (&Pin, Option<&str>),
    seen: &mut FirstSeen,
    now: f64,
) -> Option<f64> {
    let image = service.images.iter().find(|i| i.entry == entry)?;
    image.pinned.as_ref()?;
    let hours = min_age(config, service, entry);
    if hours <= 0.0 {
        return None;
    }
    let tagged = moved_to.unwrap_or(&image.tagged);
    let after = seen.see(tagged, new.digest(), now) + hours * 3600.0;
    (after > now).then_some(after)
}

/// Splits `changes` into those to make now and those still cooling down.
pub fn split(
    config: &Config,
    service: &Service,
    changes: Vec<Change>,
    seen: &mut FirstSeen,
    now: f64,
) -> (Vec<Change>, Vec<Waiting>) {
    let mut ready = Vec::new();
    let mut waiting = Vec::new();
    for change in changes {
        let moved_to = change.retag.as_ref().map(|r| r.reference.as_str());
        match adopt_after(
            config,
            service,
            &change.entry,
            (&change.new, moved_to),
            seen,
            now,
        ) {
            Some(adopt_after) => waiting.push(Waiting {
                change,
                adopt_after,
            }),
            None => ready.push(change),
        }
    }
    (ready, waiting)
}

/// Marks the outdated entries of a check whose latest digest is still cooling down.
pub fn mark_waiting(
    config: &Config,
    service: &Service,
    checked: &mut ServiceCheck,
    seen: &mut FirstSeen,
    now: f64,
) {
    for image in &mut checked.images {
        if image.status != Status::Outdated {
            continue;
        }
        let Some(latest) = image.latest.as_deref().and_then(|l| Pin::parse(l).ok()) else {
            continue;
        };
        if let Some(after) = adopt_after(config, service, &image.entry, (&latest, None), seen, now)
        {
            image.status = Status::Waiting;
            image.adopt_after = Some(rfc3339(after));
        }
    }
}

/// `waiting (N h left)` for an `adopt_after` in RFC 3339.
pub fn label_of(adopt_after: Option<&str>, now: f64) -> String {
    let after = adopt_after
        .and_then(|a| chrono::DateTime::parse_from_rfc3339(a).ok())
        .map_or(now, |t| t.timestamp() as f64);
    label(after, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_hours_up() {
        assert_eq!(label(3600.0 * 5.0, 1.0), "waiting (5 h left)");
        assert_eq!(label(3600.0 * 4.5, 0.0), "waiting (5 h left)");
        assert_eq!(label(10.0, 0.0), "waiting (1 h left)");
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00Z");
    }
}
