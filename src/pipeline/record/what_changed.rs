//! What an update changed, in words for the summary, the history and notifications: the tag
//! move (`tag 1.2.3 -> 1.2.5`), the image versions and source from their labels
//! (`29.0.1 -> 29.0.2`, `https://github.com/...`), whether this platform's image changed, and
//! the newer versions that exist. The labels are read within a budget of their own
//! (`REGISTRY_TIMEOUT` per registry for all of the run's label reads together, see
//! [`crate::resolve::native`]'s `label_budget`), since the resolution's has passed by the
//! time an update is recorded.

use crate::formats::image::version_tag::Newer;
use crate::pipeline::record::summary::Row;
use crate::pipeline::select::newer::NewerTags;
use crate::pipeline::service::{Change, Service};
use crate::resolve::native::image_labels::{host_platform, PlatformImage};
use crate::resolve::native::Native;

const VERSION: &str = "org.opencontainers.image.version";
const REVISION: &str = "org.opencontainers.image.revision";
const SOURCE: &str = "org.opencontainers.image.source";
const CREATED: &str = "org.opencontainers.image.created";

/// The images before and after a change, for this host's platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    /// The image of the old pin, if there was one and it could be read.
    pub old: Option<PlatformImage>,
    /// The image of the new pin.
    pub new: PlatformImage,
}

/// Reads the old and new image of `change` from the registry; a failure is logged and leaves
/// the note without them. A first pin has nothing to compare with and is not read (a first
/// run over many services makes no extra requests).
pub fn read(native: &Native<'_>, change: &Change) -> Option<Images> {
    change.old.as_ref()?;
    let new = native
        .platform_image(change.new.as_str())
        .map_err(|e| log::info!("{}: labels not read: {e}", change.new))
        .ok()?;
    let old = change.old.as_deref().and_then(|old| {
        native
            .platform_image(old)
            .map_err(|e| log::info!("{old}: labels not read: {e}"))
            .ok()
    });
    Some(Images { old, new })
}

fn label<'i>(image: Option<&'i PlatformImage>, key: &str) -> Option<&'i str> {
    image.and_then(|i| i.labels.get(key)).map(String::as_str)
}

/// What the labels say changed: `29.0.1 -> 29.0.2` (or the revision), whether this
/// platform's image changed (multi-arch only), the build date and the source link.
pub fn label_parts(images: &Images) -> Vec<String> {
    let mut parts = Vec::new();
    let (old, new) = (images.old.as_ref(), Some(&images.new));
    let short = |r: &str| r.chars().take(12).collect::<String>();
    match (label(old, VERSION), label(new, VERSION)) {
        (Some(a), Some(b)) if a != b => parts.push(format!("{a} -> {b}")),
        (None, Some(b)) => parts.push(format!("version {b}")),
        _ => match (label(old, REVISION), label(new, REVISION)) {
            (Some(a), Some(b)) if a != b => {
                parts.push(format!("revision {} -> {}", short(a), short(b)))
            }
            (None, Some(b)) => parts.push(format!("revision {}", short(b))),
            _ => {}
        },
    }
    if images.new.multi_arch {
        let (os, arch) = host_platform();
        let same = old.is_some_and(|o| o.manifest == images.new.manifest);
        let word = if same { "unchanged" } else { "changed" };
        parts.push(format!("{os}/{arch} image {word}"));
    }
    if let Some(created) = label(new, CREATED) {
        parts.push(format!("built {}", created.get(..10).unwrap_or(created)));
    }
    if let Some(source) = label(new, SOURCE) {
        parts.push(source.to_owned());
    }
    parts
}

/// The note about one change: its parts joined with `, `; empty when there is nothing to say.
pub fn note(change: &Change, newer: Option<&Newer>, images: Option<&Images>) -> String {
    let mut parts = Vec::new();
    if let Some(retag) = &change.retag {
        parts.push(format!("tag {} -> {}", retag.from, retag.to));
    }
    if let Some(images) = images {
        parts.extend(label_parts(images));
    }
    if let Some(n) = newer {
        // The tag moved to one of them: that one is not newer any more.
        let moved_to = change.retag.as_ref().map(|r| r.to.as_str());
        let keep = |t: &Option<String>| t.clone().filter(|t| Some(t.as_str()) != moved_to);
        let left = Newer {
            patch: keep(&n.patch),
            minor: keep(&n.minor),
            major: keep(&n.major),
        };
        if left.any() {
            parts.push(format!("newer: {}", left.describe()));
        }
    }
    parts.join(", ")
}

/// The note about `change` of `service`: its images' labels read from the registry and the
/// newer versions of its tag.
pub fn of_change(
    native: &Native<'_>,
    service: &Service,
    change: &Change,
    newer: &NewerTags,
) -> String {
    let images = read(native, change);
    let newer = service
        .images
        .iter()
        .find(|i| i.entry == change.entry)
        .and_then(|i| newer.get(&i.tagged));
    note(change, newer, images.as_ref())
}

/// `error; note`, either part may be missing.
pub fn message(error: Option<&str>, note: &str) -> Option<String> {
    match (error.filter(|e| !e.is_empty()), note.is_empty()) {
        (None, true) => None,
        (None, false) => Some(note.to_owned()),
        (Some(e), true) => Some(e.to_owned()),
        (Some(e), false) => Some(format!("{e}; {note}")),
    }
}

/// Appends each entry's note to the CHANGE column of its rows of `service`.
pub fn annotate(rows: &mut [Row], service: &str, notes: &[(String, String)]) {
    for row in rows.iter_mut().filter(|r| r.service == service) {
        if let Some((_, note)) = notes.iter().find(|(e, n)| *e == row.entry && !n.is_empty()) {
            row.change = format!("{}, {note}", row.change);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(multi: bool, manifest: &str, labels: &[(&str, &str)]) -> PlatformImage {
        PlatformImage {
            multi_arch: multi,
            manifest: manifest.into(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn label_parts_say_what_changed() {
        let (os, arch) = host_platform();
        let cases = [
            (
                Some(image(false, "a", &[(VERSION, "29.0.1")])),
                image(false, "b", &[(VERSION, "29.0.2"), (SOURCE, "https://x/y")]),
                vec!["29.0.1 -> 29.0.2".to_owned(), "https://x/y".to_owned()],
            ),
            (
                Some(image(
                    true,
                    "a",
                    &[(VERSION, "1"), (REVISION, "0123456789abcdef")],
                )),
                image(true, "a", &[(VERSION, "1"), (REVISION, "fedcba9876543210")]),
                vec![
                    "revision 0123456789ab -> fedcba987654".to_owned(),
                    format!("{os}/{arch} image unchanged"),
                ],
            ),
            (
                None,
                image(true, "b", &[(CREATED, "2026-11-28T10:00:00Z")]),
                vec![
                    format!("{os}/{arch} image changed"),
                    "built 2026-11-28".to_owned(),
                ],
            ),
        ];
        for (old, new, want) in cases {
            assert_eq!(label_parts(&Images { old, new }), want);
        }
    }

    #[test]
    fn a_message_joins_the_error_and_the_note() {
        let cases = [
            (None, "", None),
            (Some(""), "", None),
            (None, "1.0 -> 1.1", Some("1.0 -> 1.1")),
            (Some("unhealthy"), "", Some("unhealthy")),
            (
                Some("unhealthy"),
                "1.0 -> 1.1",
                Some("unhealthy; 1.0 -> 1.1"),
            ),
        ];
        for (error, note, want) in cases {
            assert_eq!(message(error, note).as_deref(), want, "{error:?} {note:?}");
        }
    }

    #[test]
    fn the_note_names_the_tag_move_and_newer_versions_but_the_one_moved_to() {
        let pin =
            "r.io/app@sha256:2222222222222222222222222222222222222222222222222222222222222222";
        let mut change = crate::pipeline::fixture::change("APP", None, pin);
        let newer = Newer {
            patch: Some("1.2.5".into()),
            minor: Some("1.3.0".into()),
            major: None,
        };
        assert_eq!(note(&change, None, None), "");
        assert_eq!(
            note(&change, Some(&newer), None),
            format!("newer: {}", newer.describe())
        );
        change.retag = Some(crate::formats::image::retag::Retag {
            from: "1.2.3".into(),
            to: "1.2.5".into(),
            reference: "r.io/app:1.2.5".into(),
        });
        let text = note(&change, Some(&newer), None);
        assert_eq!(text, "tag 1.2.3 -> 1.2.5, newer: minor 1.3.0");
        let mut rows = vec![Row::change("svc", &change, "updated")];
        let before = rows[0].change.clone();
        annotate(&mut rows, "other", &[("APP".into(), "x".into())]);
        assert_eq!(rows[0].change, before, "another service's note");
        annotate(&mut rows, "svc", &[("APP".into(), "x".into())]);
        assert_eq!(rows[0].change, format!("{before}, x"));
    }
}
