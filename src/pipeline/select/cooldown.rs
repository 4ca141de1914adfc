//! The cool-down (`MIN_AGE`, per entry `SERVICE_<X>_IMAGE_MIN_AGE`): a new digest is adopted
//! only once cipug has seen it behind its tag for that many hours. Broken releases are often
//! replaced within hours; a digest replaced before its cool-down ends is never installed.
//!
//! A tag that moves more often than its cool-down (a nightly, a busy `latest`) would never
//! be adopted that way. While the tag's newest digest cools down, cipug adopts instead the
//! newest digest it saw behind the tag at least `MIN_AGE` ago, if that digest was first seen
//! after the pinned digest was (so a pin never moves back), is not held back after a failure,
//! and the registry still serves it by digest (a `HEAD` of its manifest; one not served is
//! skipped for the next older one). Without a first-seen time for the pinned digest nothing
//! is known to be newer than the pin, and the entry waits. A tag move (`TAG_UPDATE`) waits
//! too: the older digests are another tag's.

use crate::config::Config;
use crate::formats::image::reference::Pin;
use crate::pipeline::select::first_seen::FirstSeen;
use crate::pipeline::select::status::{ServiceCheck, Status};
use crate::pipeline::service::{Change, Older, Service};
use crate::resolve::Resolutions;

/// Hours for people: whole hours from 10 on, one decimal below (`0.6`, `3`, `26`).
pub fn hours(secs: u64) -> String {
    let h = secs as f64 / 3600.0;
    if h >= 10.0 {
        format!("{}", h.floor())
    } else {
        let text = format!("{:.1}", (h * 10.0).floor() / 10.0);
        text.strip_suffix(".0").unwrap_or(&text).to_owned()
    }
}

/// What decides whether an older digest may stand in for one still cooling down.
pub struct Fallback<'a> {
    /// Whether the registry still serves the pin by digest; the error says what it said.
    pub served: &'a dyn Fn(&Pin) -> Result<(), crate::resolve::ResolveError>,
    /// Whether the pin of the entry is held back after an earlier failure.
    pub held: &'a dyn Fn(&str, &Pin) -> bool,
}

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

/// Splits `changes` into those to make now and those still cooling down; a change still
/// cooling down becomes one to an older digest where `fallback` allows one.
pub fn split(
    config: &Config,
    service: &Service,
    changes: Vec<Change>,
    (seen, fallback): (&mut FirstSeen, &Fallback<'_>),
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
            Some(adopt_after) => {
                let hours = min_age(config, service, &change.entry);
                match older_change(service, &change, (hours, seen, fallback), now) {
                    Some(older) => ready.push(older),
                    None => waiting.push(Waiting {
                        change,
                        adopt_after,
                    }),
                }
            }
            None => ready.push(change),
        }
    }
    (ready, waiting)
}

/// `change` made to the newest digest seen behind its tag at least `hours` ago that is newer
/// than the pin (first seen after the pinned digest was), not held back and still served;
/// `None` when there is none (or the pinned digest's first-seen time is not known).
fn older_change(
    service: &Service,
    change: &Change,
    (hours, seen, fallback): (f64, &FirstSeen, &Fallback<'_>),
    now: f64,
) -> Option<Change> {
    if change.retag.is_some() {
        return None;
    }
    let image = service.images.iter().find(|i| i.entry == change.entry)?;
    let (name, pinned) = image.pinned.as_deref()?.rsplit_once('@')?;
    let newest = change.new.digest();
    let newest_time = seen.time(&image.tagged, newest)?;
    let Some(pinned_time) = seen.time(&image.tagged, pinned) else {
        log::debug!(
            "{}: {}: the pinned digest was never seen behind {}; no older digest is known to be newer",
            service.dir.name,
            change.entry,
            image.tagged
        );
        return None;
    };
    let mut candidates: Vec<(&str, f64)> = seen
        .digests(&image.tagged)
        .filter(|&(digest, time)| {
            digest != pinned
                && digest != newest
                && time > pinned_time
                && time + hours * 3600.0 <= now
        })
        .collect();
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (digest, time) in candidates {
        let Ok(pin) = Pin::new(name, digest) else {
            continue;
        };
        if (fallback.held)(&change.entry, &pin) {
            log::info!(
                "{}: {} {pin} is old enough but held back; trying an older one",
                service.dir.name,
                change.entry
            );
            continue;
        }
        if let Err(e) = (fallback.served)(&pin) {
            log::warn!(
                "{}: {} {pin} is old enough but not served by digest any more ({e}); trying an older one",
                service.dir.name,
                change.entry
            );
            continue;
        }
        let ago = |t: f64| (now - t).max(0.0) as u64;
        return Some(Change {
            new: pin,
            older: Some(Older {
                seen_ago: ago(time),
                newest: change.new.as_str().to_owned(),
                newest_ago: ago(newest_time),
            }),
            ..change.clone()
        });
    }
    None
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

    fn pin(hex: char) -> Pin {
        Pin::new(
            "r.io/app",
            &format!("sha256:{}", hex.to_string().repeat(64)),
        )
        .unwrap()
    }

    #[test]
    fn a_tag_that_moves_faster_than_its_cool_down_adopts_its_newest_old_enough_digest() {
        // Pinned to p; behind the tag since: z (before p), y, a (old enough), b and c (not).
        let (_root, config, dir) = crate::pipeline::fixture::service(pin('0').as_str());
        let env = std::fs::read_to_string(dir.env_file.as_path()).unwrap();
        std::fs::write(&dir.env_file, env + "SERVICE_APP_IMAGE_MIN_AGE=0.5\n").unwrap();
        let service = crate::pipeline::service::load(&dir).unwrap();
        let now = 2000.0;
        let times = [('f', -100.0), ('0', 0.0), ('e', 50.0), ('a', 100.0)];
        let times = times.into_iter().chain([('b', 1000.0), ('c', 1700.0)]);
        let change = Change {
            entry: "APP".into(),
            old: Some(pin('0').as_str().into()),
            new: pin('c'),
            retag: None,
            older: None,
        };
        let cases: [(&str, &[char], &[char], bool, Option<char>); 5] = [
            ("the newest old enough", &[], &[], true, Some('a')),
            ("a is gone: the next older", &['a'], &[], true, Some('e')),
            (
                "a is held back: the next older",
                &[],
                &['a'],
                true,
                Some('e'),
            ),
            ("never older than the pin", &['a', 'e'], &[], true, None),
            ("the pin's time unknown", &[], &[], false, None),
        ];
        for (why, gone, held, pin_known, want) in cases {
            let dir = tempfile::tempdir().unwrap();
            let mut seen = FirstSeen::load(dir.path());
            for (hex, time) in times.clone().filter(|(h, _)| pin_known || *h != '0') {
                seen.see("r.io/app:1", pin(hex).digest(), time);
            }
            let served = |p: &Pin| match gone.iter().any(|g| pin(*g) == *p) {
                true => Err(crate::resolve::RegistryError::from("404 Not Found").into()),
                false => Ok(()),
            };
            let held = |_: &str, p: &Pin| held.iter().any(|h| pin(*h) == *p);
            let fallback = Fallback {
                served: &served,
                held: &held,
            };
            let (ready, waiting) = split(
                &config,
                &service,
                vec![change.clone()],
                (&mut seen, &fallback),
                now,
            );
            assert_eq!(ready.len() + waiting.len(), 1, "{why}");
            let Some(want) = want else {
                assert_eq!(waiting[0].change, change, "{why}");
                assert_eq!(waiting[0].adopt_after, 3500.0, "{why}");
                continue;
            };
            assert_eq!(ready[0].new, pin(want), "{why}");
            let older = ready[0].older.as_ref().unwrap();
            assert_eq!(older.newest, pin('c').as_str(), "{why}");
            assert_eq!(older.newest_ago, 300, "{why}");
        }
    }

    #[test]
    fn the_cool_down_takes_fractions_of_an_hour() {
        let (_root, config, dir) = crate::pipeline::fixture::service(pin('0').as_str());
        let env = std::fs::read_to_string(dir.env_file.as_path()).unwrap();
        std::fs::write(&dir.env_file, env + "SERVICE_APP_IMAGE_MIN_AGE= 0.25\n").unwrap();
        let service = crate::pipeline::service::load(&dir).unwrap();
        assert_eq!(min_age(&config, &service, "APP"), 0.25);
    }

    #[test]
    fn hours_for_people() {
        for (secs, want) in [(0, "0"), (2200, "0.6"), (10_800, "3"), (93_600, "26")] {
            assert_eq!(hours(secs), want, "{secs} s");
        }
    }
}
