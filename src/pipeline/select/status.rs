//! `cipug check`: every entry's pinned and latest digest side by side. Changes nothing.

use serde::Serialize;

use crate::pipeline::history::{self, Event};
use crate::pipeline::service::Service;
use crate::resolve::Resolutions;

/// The state of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The pin is the latest digest.
    Current,
    /// The tag points to another digest now.
    Outdated,
    /// There is no pin yet.
    Unpinned,
    /// The tag points to another digest that is younger than its cool-down (`MIN_AGE`).
    Waiting,
    /// The tag points to a digest that was rolled back (or could not be pulled, or was left
    /// by `cipug rollback`): `update` holds it back until `--retry-failed` or a newer digest.
    #[serde(rename = "held_back")]
    HeldBack,
    /// The tag could not be resolved.
    Error,
}

/// One entry of the check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageCheck {
    /// The `<X>` of the entry.
    pub entry: String,
    /// The reference after interpolation.
    pub tagged: String,
    /// The current pin.
    pub pinned: Option<String>,
    /// The latest `Name@Digest`.
    pub latest: Option<String>,
    /// How they compare.
    pub status: Status,
    /// Why it could not be resolved.
    pub error: Option<String>,
    /// The newest patch, minor and major version tags, for an entry whose tag is a version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newer: Option<crate::formats::image::version_tag::Newer>,
    /// When a waiting digest may be adopted (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adopt_after: Option<String>,
}

/// One service of the check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceCheck {
    /// The folder name.
    pub name: String,
    /// Its entries.
    pub images: Vec<ImageCheck>,
}

/// The whole check, in the shape `--format json` prints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// All services, in name order.
    pub services: Vec<ServiceCheck>,
}

impl CheckReport {
    /// Whether any entry is outdated or unpinned (held-back and waiting ones are not: an
    /// update would not change them).
    pub fn has_pending(&self) -> bool {
        self.entries()
            .any(|i| matches!(i.status, Status::Outdated | Status::Unpinned))
    }

    /// Every entry.
    pub fn entries(&self) -> impl Iterator<Item = &ImageCheck> {
        self.services.iter().flat_map(|s| s.images.iter())
    }
}

/// Compares the pins of `service` with `resolutions`.
pub fn check_service(service: &Service, resolutions: &Resolutions) -> ServiceCheck {
    let images = service
        .images
        .iter()
        .map(|image| {
            let (latest, error) = match resolutions.get(&image.tagged) {
                Some(Ok(pin)) => (Some(pin.as_str().to_owned()), None),
                Some(Err(e)) => (None, Some(e.to_string())),
                None => (None, Some("was not resolved".to_owned())),
            };
            let status = match (&latest, &image.pinned) {
                (None, _) => Status::Error,
                (Some(_), None) => Status::Unpinned,
                (Some(l), Some(p)) if l == p => Status::Current,
                (Some(_), Some(_)) => Status::Outdated,
            };
            ImageCheck {
                entry: image.entry.clone(),
                tagged: image.tagged.clone(),
                pinned: image.pinned.clone(),
                latest,
                status,
                error,
                newer: None,
                adopt_after: None,
            }
        })
        .collect();
    ServiceCheck {
        name: service.dir.name.clone(),
        images,
    }
}

/// Marks each entry whose latest digest `update` holds back (see
/// [`history::is_held`]) as [`Status::HeldBack`]: it is neither outdated nor unpinned, as
/// `update` would not change it.
pub fn mark_held(checked: &mut ServiceCheck, past: &[Event]) {
    for image in &mut checked.images {
        if !matches!(image.status, Status::Outdated | Status::Unpinned) {
            continue;
        }
        let held = image
            .latest
            .as_deref()
            .is_some_and(|latest| history::is_held(past, &checked.name, &image.entry, latest));
        if held {
            image.status = Status::HeldBack;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::envfile::EnvFile;
    use crate::formats::image::reference::Pin;
    use crate::formats::pins::image_entries;
    use crate::services::ServiceDir;

    #[test]
    fn statuses_and_json_shape() {
        let a = format!("docker.io/library/a@sha256:{}", "a".repeat(64));
        let b = format!("docker.io/library/b@sha256:{}", "b".repeat(64));
        let text = format!("SERVICE_A_IMAGE_TAGGED=a\nSERVICE_A_IMAGE_HASHED={a}\nSERVICE_B_IMAGE_TAGGED=b\nSERVICE_B_IMAGE_HASHED={a}\nSERVICE_C_IMAGE_TAGGED=c\nSERVICE_D_IMAGE_TAGGED=d\n");
        let env = EnvFile::parse(text.as_bytes()).unwrap();
        let service = Service {
            dir: ServiceDir {
                name: "svc".into(),
                path: "/x".into(),
                env_file: "/x/.env".into(),
                trusted: Default::default(),
                project: "svc".into(),
            },
            images: image_entries(&env).unwrap(),
            env,
        };
        let mut res = Resolutions::new();
        res.insert("a".into(), Ok(Pin::parse(&a).unwrap()));
        res.insert("b".into(), Ok(Pin::parse(&b).unwrap()));
        res.insert("c".into(), Ok(Pin::parse(&b).unwrap()));
        res.insert(
            "d".into(),
            Err(
                crate::resolve::RegistryError::from("registry docker.io answered 404 Not Found")
                    .into(),
            ),
        );
        let report = CheckReport {
            services: vec![check_service(&service, &res)],
        };
        let statuses: Vec<Status> = report.entries().map(|i| i.status).collect();
        assert_eq!(
            statuses,
            [
                Status::Current,
                Status::Outdated,
                Status::Unpinned,
                Status::Error
            ]
        );
        assert!(report.has_pending());
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json["services"][0]["images"][3],
            serde_json::json!({"entry": "D", "tagged": "d", "pinned": null, "latest": null, "status": "error", "error": "registry docker.io answered 404 Not Found"})
        );
        assert_eq!(json["services"][0]["images"][0]["status"], "current");
    }

    fn held_event(outcome: history::Outcome, old: Option<&str>, new: &str) -> Event {
        Event {
            time: "2026-01-01T00:00:00Z".into(),
            service: "svc".into(),
            entry: "B".into(),
            old: old.map(str::to_owned),
            new: Some(new.into()),
            outcome,
            snapshot_before: None,
            snapshot_failed: None,
            message: None,
        }
    }

    fn check(
        entry: &str,
        pinned: Option<&str>,
        latest: Option<&str>,
        status: Status,
    ) -> ImageCheck {
        ImageCheck {
            entry: entry.into(),
            tagged: "b".into(),
            pinned: pinned.map(str::to_owned),
            latest: latest.map(str::to_owned),
            status,
            error: None,
            newer: None,
            adopt_after: None,
        }
    }

    #[test]
    fn a_held_back_digest_is_held_back_not_outdated() {
        let (old, bad) = ("b@sha256:1", "b@sha256:2");
        let checked = ServiceCheck {
            name: "svc".into(),
            images: vec![
                check("B", Some(old), Some(bad), Status::Outdated),
                check("C", Some(old), Some(bad), Status::Outdated),
            ],
        };
        let mut past = vec![held_event(history::Outcome::RolledBack, Some(old), bad)];
        let mut once = checked.clone();
        mark_held(&mut once, &past);
        assert_eq!(
            once.images.iter().map(|i| i.status).collect::<Vec<_>>(),
            [Status::HeldBack, Status::Outdated],
            "only the entry whose digest was rolled back"
        );
        let report = CheckReport {
            services: vec![ServiceCheck {
                images: vec![once.images[0].clone()],
                ..once.clone()
            }],
        };
        assert!(!report.has_pending(), "--fail-outdated does not fail on it");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["services"][0]["images"][0]["status"], "held_back");
        // An unpinned entry whose first digest failed is held back as well.
        let mut unpinned = ServiceCheck {
            name: "svc".into(),
            images: vec![check("B", None, Some(bad), Status::Unpinned)],
        };
        mark_held(
            &mut unpinned,
            &[held_event(history::Outcome::PullFailed, None, bad)],
        );
        assert_eq!(unpinned.images[0].status, Status::HeldBack);
        // Retried successfully: no longer held; current or waiting entries stay as they are.
        past.push(held_event(history::Outcome::Updated, Some(old), bad));
        let mut retried = checked.clone();
        mark_held(&mut retried, &past);
        assert_eq!(retried.images[0].status, Status::Outdated);
        let mut waiting = ServiceCheck {
            name: "svc".into(),
            images: vec![check("B", Some(old), Some(bad), Status::Waiting)],
        };
        mark_held(&mut waiting, &past[..1]);
        assert_eq!(waiting.images[0].status, Status::Waiting);
        // What `cipug rollback` left is held back too.
        let mut left = checked;
        mark_held(
            &mut left,
            &[held_event(history::Outcome::Rollback, Some(bad), old)],
        );
        assert_eq!(left.images[0].status, Status::HeldBack);
    }
}
