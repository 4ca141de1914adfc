//! `cipug check`: every entry's pinned and latest digest side by side. Changes nothing.

use serde::Serialize;

use crate::pipeline::plan::Service;
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
    pub newer: Option<crate::formats::version_tag::Newer>,
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
    /// Whether any entry is outdated or unpinned.
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
                Some(Err(e)) => (None, Some(e.clone())),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::envfile::EnvFile;
    use crate::formats::image_ref::Pin;
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
            Err("registry docker.io answered 404 Not Found".into()),
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
}
