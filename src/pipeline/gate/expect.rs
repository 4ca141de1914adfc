//! What the health gate expects of a project once pins moved (by an update or a rollback),
//! from the compose model ([`crate::pipeline::project::compose_model`]):
//!
//! - each container of a compose service whose image uses a moved variable runs that
//!   variable's new pin;
//! - some container runs each new pin, unless every compose service using it is in a
//!   profile (it may not run at all);
//! - no container of the project runs a replaced pin's image, whichever compose service it
//!   belongs to (one the model missed included), unless a pin still in the `.env` has that
//!   image too, or its compose service names its image without a variable.

use crate::config::Config;
use crate::pipeline::gate::Expected;
use crate::pipeline::project::compose_model;
use crate::services::ServiceDir;

/// One entry whose pin moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// The `<X>` of the entry.
    pub entry: String,
    /// The pin before (none: it was not pinned).
    pub from: Option<String>,
    /// The pin now.
    pub to: String,
}

/// What the gate expects of `dir`'s project with `pinned` (every pin of its `.env` now) after
/// `moved`. The caller adds what it knows of the containers before.
pub fn after(config: &Config, dir: &ServiceDir, pinned: Vec<String>, moved: &[Moved]) -> Expected {
    let model = compose_model::load(config, dir).unwrap_or_else(|e| {
        log::debug!("{}: {e}; the gate checks every container", dir.name);
        Default::default()
    });
    let using = |entry: &str| model.services_using(&[entry]);
    let entries: Vec<&str> = moved.iter().map(|m| m.entry.as_str()).collect();
    let mut expected = Expected {
        services: model.services_using(&entries),
        pinned,
        fixed: model.fixed_services(),
        ..Expected::default()
    };
    for m in moved {
        let services = using(&m.entry);
        let optional =
            !services.is_empty() && services.iter().all(|s| !model.profiles(s).is_empty());
        if !optional {
            expected.run.push(m.to.clone());
        }
        expected.replaced.extend(m.from.clone());
        expected
            .wanted
            .extend(services.into_iter().map(|s| (s, m.to.clone())));
    }
    expected
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_using_a_moved_pin_is_expected_to_run_it() {
        let (_root, config, dir) = crate::pipeline::fixture::service("r/app@sha256:2");
        std::fs::write(
            dir.path.join("compose.yml"),
            "services:\n  app:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n  worker:\n    extends: app\n  debug:\n    image: ${SERVICE_TOOL_IMAGE_HASHED}\n    profiles: [debug]\n  proxy:\n    image: nginx:1\n",
        )
        .unwrap();
        let moved = |entry: &str, from: &str, to: &str| Moved {
            entry: entry.into(),
            from: Some(from.into()),
            to: to.into(),
        };
        let pinned = vec!["r/app@sha256:2".to_owned(), "r/tool@sha256:8".to_owned()];
        let expected = after(
            &config,
            &dir,
            pinned.clone(),
            &[
                moved("APP", "r/app@sha256:1", "r/app@sha256:2"),
                moved("TOOL", "r/tool@sha256:7", "r/tool@sha256:8"),
            ],
        );
        assert_eq!(expected.services, ["app", "debug", "worker"]);
        assert_eq!(
            expected.wanted,
            [
                ("app".to_owned(), "r/app@sha256:2".to_owned()),
                ("worker".to_owned(), "r/app@sha256:2".to_owned()),
                ("debug".to_owned(), "r/tool@sha256:8".to_owned()),
            ]
        );
        assert_eq!(
            expected.run,
            ["r/app@sha256:2"],
            "a pin only a profile's service uses need not run"
        );
        assert_eq!(expected.replaced, ["r/app@sha256:1", "r/tool@sha256:7"]);
        assert_eq!(expected.pinned, pinned);
        assert_eq!(expected.fixed, ["proxy"]);
    }
}
