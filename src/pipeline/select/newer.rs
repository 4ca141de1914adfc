//! "A newer version exists": for every entry whose tag is a version, the repository's tags
//! are listed and the newest patch, minor and major release with the same shape are found.
//! Tag lists of different repositories are read in parallel; a list that cannot be read is
//! a warning and leaves the entry without an answer.

use std::collections::BTreeMap;

use crate::base::parallel::parallel_map;
use crate::formats::image::reference::{ImageRef, Target};
use crate::formats::image::version_tag::{Newer, VersionTag};
use crate::pipeline::service::Service;
use crate::resolve::native::Native;
use crate::resolve::Resolutions;

/// The newer versions of each reference (as written after interpolation) that is a version.
pub type NewerTags = BTreeMap<String, Newer>;

/// The version tag of `reference`, if its tag is a version.
pub fn version_of(reference: &str) -> Option<(ImageRef, VersionTag)> {
    let image = ImageRef::parse(reference).ok()?;
    let Target::Tag(tag) = &image.target else {
        return None;
    };
    let version = VersionTag::parse(tag)?;
    Some((image, version))
}

/// Lists the tags of every repository with a version-tagged reference in `services` that
/// resolved (once per repository), and finds the newer versions of each such reference, with
/// at most `jobs` lists in flight.
pub fn find(
    native: &Native<'_>,
    services: &[Service],
    resolutions: &Resolutions,
    jobs: usize,
) -> NewerTags {
    // Repository name -> (a reference to list it with, the version references in it).
    let mut todo: BTreeMap<String, (ImageRef, Vec<(String, VersionTag)>)> = BTreeMap::new();
    for image in services.iter().flat_map(|s| &s.images) {
        if !matches!(resolutions.get(&image.tagged), Some(Ok(_))) {
            continue;
        }
        if let Some((parsed, version)) = version_of(&image.tagged) {
            let (_, refs) = todo
                .entry(parsed.name())
                .or_insert_with(|| (parsed, Vec::new()));
            if !refs.iter().any(|(r, _)| r == &image.tagged) {
                refs.push((image.tagged.clone(), version));
            }
        }
    }
    let todo: Vec<_> = todo.into_values().collect();
    let listed = parallel_map(&todo, jobs, |(image, refs)| {
        let tags = match native.tags(image) {
            Ok(tags) => tags,
            Err(e) => {
                log::warn!("{}: tags not listed: {e}", image.name());
                return Vec::new();
            }
        };
        refs.iter()
            .map(|(reference, version)| {
                let newer = version.newer(tags.iter().map(String::as_str));
                if newer.any() {
                    log::debug!("{reference}: newer versions: {}", newer.describe());
                }
                (reference.clone(), newer)
            })
            .collect()
    });
    listed.into_iter().flatten().collect()
}

/// Adds the newer versions to the entries of a check.
pub fn mark(checked: &mut crate::pipeline::select::status::ServiceCheck, newer: &NewerTags) {
    for image in &mut checked.images {
        image.newer = newer.get(&image.tagged).cloned();
    }
}

/// Sends one notification per entry of `service` when a newer version tag shows up that no
/// earlier run announced (remembered in the first-seen file under the repository, as
/// `tag <name>`).
pub fn announce(
    service: &Service,
    newer: &NewerTags,
    seen: &mut crate::pipeline::select::first_seen::FirstSeen,
    now: f64,
    notifier: &crate::adapters::notify::Notifier<'_>,
) {
    for image in &service.images {
        let Some(n) = newer.get(&image.tagged).filter(|n| n.any()) else {
            continue;
        };
        // Per repository: a tag announced stays announced when the entry's own tag moves.
        let repository = image
            .tagged
            .rsplit_once(':')
            .map_or(image.tagged.as_str(), |(name, _)| name);
        let fresh = [&n.patch, &n.minor, &n.major]
            .into_iter()
            .flatten()
            .filter(|t| seen.first_time(repository, &format!("tag {t}"), now))
            .count();
        if fresh == 0 {
            continue;
        }
        let name = &service.dir.name;
        let message = format!("{}: {}: newer: {}", image.entry, image.tagged, n.describe());
        notifier.send(&crate::adapters::notify::Notification {
            title: format!("cipug: {name} newer version"),
            body: message.clone(),
            message,
            service: name.clone(),
            entry: image.entry.clone(),
            old_pin: image.pinned.clone(),
            new_pin: None,
            outcome: "newer version".into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::recording::Recording;

    #[test]
    fn only_a_version_tag_has_newer_versions() {
        let cases = [
            ("r.io/app:1.2.3", true),
            ("r.io/app:v2", true),
            ("r.io/app:latest", false),
            (
                "r.io/app@sha256:1111111111111111111111111111111111111111111111111111111111111111",
                false,
            ),
            ("not a reference at all!", false),
        ];
        for (reference, version) in cases {
            assert_eq!(version_of(reference).is_some(), version, "{reference}");
        }
    }

    #[test]
    fn a_newer_version_is_announced_once_per_repository() {
        let (_root, mut config, dir) = crate::pipeline::fixture::service(
            "r.io/app@sha256:1111111111111111111111111111111111111111111111111111111111111111",
        );
        config.notify_command = Some(vec!["notify-me".into()]);
        let service = crate::pipeline::service::load(&dir).unwrap();
        let mut seen = crate::pipeline::select::first_seen::FirstSeen::load(&config.state_dir);
        let newer_tags = |patch: Option<&str>| {
            let newer = Newer {
                patch: patch.map(str::to_owned),
                minor: None,
                major: None,
            };
            NewerTags::from([("r.io/app:1".to_owned(), newer)])
        };
        // (newer patch tag, notifications after it)
        let cases = [
            (None, 0),
            (Some("1.0.1"), 1),
            (Some("1.0.1"), 1),
            (Some("1.0.2"), 2),
        ];
        let runner = Recording::new();
        let notifier = crate::adapters::notify::Notifier::new(&config, &runner);
        for (patch, sent) in cases {
            announce(&service, &newer_tags(patch), &mut seen, 0.0, &notifier);
            notifier.flush();
            assert_eq!(runner.count("notify-me"), sent, "{patch:?}");
        }
    }
}
