//! Opt-in tag updates (`TAG_UPDATE=patch|minor`, per entry `SERVICE_<X>_IMAGE_TAG_UPDATE`):
//! an entry whose tag is a version moves to the newest patch (or minor) release with the same
//! shape. The TAGGED value is rewritten in place (only the tag changes, quoting and the rest of
//! the line stay) together with the new pin, so the update goes through the same snapshot,
//! health gate and rollback, and a rollback puts the old tag back with the old pin.

use crate::config::{Config, TagUpdate};
use crate::formats::image::retag::{rewrite, Retag};
use crate::pipeline::select::newer::NewerTags;
use crate::pipeline::service::{Change, Service};
use crate::resolve::Resolutions;

/// How far `entry` of `service` may move: `SERVICE_<X>_IMAGE_TAG_UPDATE`, else `TAG_UPDATE`.
pub fn mode(config: &Config, service: &Service, entry: &str) -> TagUpdate {
    let key = crate::formats::env_keys::TAG_UPDATE.key(entry);
    match service
        .env
        .variables()
        .get(&key)
        .map(|v| v.trim().to_owned())
    {
        None => config.tag_update,
        Some(v) => TagUpdate::from_word(&v).unwrap_or_else(|| {
            log::warn!(
                "{}: {key}=`{v}` is not off, patch or minor; TAG_UPDATE ({}) applies",
                service.dir.env_file.display(),
                config.tag_update
            );
            config.tag_update
        }),
    }
}

/// The tag moves of every entry of `services` that may move and has a newer version:
/// (service, entry, move). An entry whose tag comes from a variable is left alone (warning).
pub fn plan(
    config: &Config,
    services: &[Service],
    newer: &NewerTags,
) -> Vec<(String, String, Retag)> {
    let mut moves = Vec::new();
    for service in services {
        for image in &service.images {
            let mode = mode(config, service, &image.entry);
            let Some(to) = newer
                .get(&image.tagged)
                .and_then(|n| n.target(mode.as_str()))
            else {
                continue;
            };
            let Some((_, version)) = crate::pipeline::select::newer::version_of(&image.tagged)
            else {
                continue;
            };
            let from = version.tag;
            let raw = service
                .env
                .get(&image.tagged_key())
                .map(|e| e.value.clone())
                .unwrap_or_default();
            let suffix = format!(":{from}");
            if !raw.ends_with(&suffix) || !image.tagged.ends_with(&suffix) {
                log::warn!(
                    "{}: {}: the tag comes from a variable; not moved to {to}",
                    service.dir.name,
                    image.tagged_key()
                );
                continue;
            }
            let cut = |s: &str| format!("{}:{to}", &s[..s.len() - suffix.len()]);
            let retag = Retag {
                from: from.clone(),
                to: to.to_owned(),
                reference: cut(&image.tagged),
            };
            if rewrite(&service.env, &image.tagged_key(), &retag).is_none() {
                log::warn!(
                    "{}: {}: the tag cannot be rewritten in place; not moved to {to}",
                    service.dir.env_file.display(),
                    image.tagged_key()
                );
                continue;
            }
            moves.push((service.dir.name.clone(), image.entry.clone(), retag));
        }
    }
    moves
}

/// Resolves the references the tags move to, into `resolutions`.
pub fn resolve(
    config: &Config,
    resolver: &dyn crate::resolve::Resolve,
    moves: &[(String, String, Retag)],
    resolutions: &mut Resolutions,
    save_cache: bool,
) {
    if moves.is_empty() {
        return;
    }
    // A move's target is pinned by nothing yet: always asked live.
    let targets = moves.iter().map(|(_, _, m)| (m.reference.as_str(), None));
    resolutions.extend(crate::pipeline::prepare::resolve_references(
        config, resolver, targets, save_cache,
    ));
}

/// `changes` with the tag moves of `service` in place of its entries' pin changes.
pub fn apply(
    service: &Service,
    mut changes: Vec<Change>,
    moves: &[(String, String, Retag)],
    resolutions: &Resolutions,
) -> Vec<Change> {
    for (_, entry, retag) in moves.iter().filter(|(s, _, _)| *s == service.dir.name) {
        let Some(image) = service.images.iter().find(|i| &i.entry == entry) else {
            continue;
        };
        match resolutions.get(&retag.reference) {
            Some(Ok(pin)) => {
                changes.retain(|c| &c.entry != entry);
                changes.push(Change {
                    entry: entry.clone(),
                    old: image.pinned.clone(),
                    new: pin.clone(),
                    retag: Some(retag.clone()),
                    older: None,
                });
            }
            Some(Err(e)) => log::warn!("{}: {e}; tag not moved", retag.reference),
            None => {}
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::image::reference::Pin;
    use crate::pipeline::fixture::{NEW, OLD};

    const MOVED: &str =
        "r.io/app@sha256:3333333333333333333333333333333333333333333333333333333333333333";

    fn service(extra: &str) -> (tempfile::TempDir, Config, Service) {
        let (root, config, dir) = crate::pipeline::fixture::service(OLD);
        let env = std::fs::read_to_string(&dir.env_file).unwrap();
        std::fs::write(&dir.env_file, format!("{env}{extra}")).unwrap();
        let service = crate::pipeline::service::load(&dir).unwrap();
        (root, config, service)
    }

    #[test]
    fn the_entrys_own_mode_wins_unless_it_is_not_one() {
        for (line, want) in [
            ("", "off"),
            ("SERVICE_APP_IMAGE_TAG_UPDATE=minor\n", "minor"),
            ("SERVICE_APP_IMAGE_TAG_UPDATE= patch \n", "patch"),
            ("SERVICE_APP_IMAGE_TAG_UPDATE=major\n", "off"),
        ] {
            let (_root, config, service) = service(line);
            assert_eq!(config.tag_update, "off", "the default");
            assert_eq!(mode(&config, &service, "APP"), want, "{line:?}");
        }
    }

    #[test]
    fn a_resolved_move_replaces_the_entrys_pin_change() {
        let (_root, _config, service) = service("");
        let retag = Retag {
            from: "1".into(),
            to: "1.1".into(),
            reference: "r.io/app:1.1".into(),
        };
        let moves = vec![("svc".to_owned(), "APP".to_owned(), retag.clone())];
        let plain = crate::pipeline::fixture::change("APP", Some(OLD), NEW);
        let mut resolutions = Resolutions::new();
        resolutions.insert("r.io/app:1.1".into(), Ok(Pin::parse(MOVED).unwrap()));
        let got = apply(&service, vec![plain.clone()], &moves, &resolutions);
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].new.as_str(), got[0].retag.as_ref()),
            (MOVED, Some(&retag))
        );
        // Not resolved, or failed: the plain change stays.
        resolutions.insert(
            "r.io/app:1.1".into(),
            Err(crate::resolve::RegistryError::from("404").into()),
        );
        let same = apply(&service, vec![plain.clone()], &moves, &resolutions);
        assert_eq!(same, std::slice::from_ref(&plain));
        assert_eq!(
            apply(&service, vec![plain.clone()], &moves, &Resolutions::new()),
            [plain]
        );
        // Another service's move changes nothing here.
        let other = vec![("other".to_owned(), "APP".to_owned(), retag)];
        assert!(apply(&service, Vec::new(), &other, &Resolutions::new()).is_empty());
    }
}
