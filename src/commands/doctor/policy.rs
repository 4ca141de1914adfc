//! `cipug doctor`'s signature policy check: which requirements of the container tool's
//! policy.json (containers-policy.json(5)) a pull of each repository the services use must
//! meet, and whether they can be met at all (`reject`, a missing key file).

use std::collections::BTreeSet;
use std::path::Path;

use crate::adapters::compose_flavour::ContainerKind;
use crate::commands::doctor::finding::{fail, note, ok, Finding};
use crate::config::Config;
use crate::formats::image::reference::ImageRef;
use crate::formats::signature_policy::{Policy, Requirement};
use crate::pipeline::service::Service;

/// The policy in force for each repository of the services that loaded.
pub fn findings(config: &Config, loaded: &[Service]) -> Vec<Finding> {
    let repositories = repositories(loaded);
    if repositories.is_empty() {
        return Vec::new();
    }
    let files = &config.registry_env.policy_files;
    let Some(path) = files.iter().find(|f| f.is_file()) else {
        if ContainerKind::of(config) == ContainerKind::Docker {
            return Vec::new();
        }
        let shown: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        return vec![fail(format!(
            "signature policy: none of {} exists, and podman refuses every pull without one; \
             install /etc/containers/policy.json (Debian's golang-github-containers-common has one; containers-policy.json(5) says what goes in it)",
            shown.join(", ")
        ))];
    };
    let policy = match std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|text| Policy::parse(&text).map_err(|e| e.to_string()))
    {
        Ok(policy) => policy,
        Err(e) => {
            return vec![fail(format!(
                "signature policy {}: {e}; podman refuses every pull until it reads",
                path.display()
            ))]
        }
    };
    if ContainerKind::of(config) == ContainerKind::Docker {
        // docker pulls without reading policy.json: a policy there protects nothing.
        return if policy.checks_anything() {
            vec![note(format!(
                "signature policy {}: docker does not read it, so signatures are not checked; \
                 podman (CONTAINER_TOOL=podman) does",
                path.display()
            ))]
        } else {
            Vec::new()
        };
    }
    repositories
        .iter()
        .map(|(registry, repository)| {
            let (scope, list) = policy.for_repository(registry, repository);
            let described: Vec<String> = list.iter().map(Requirement::describe).collect();
            let text = format!(
                "signature policy for {registry}/{repository}: {}, from {scope} in {}",
                described.join(" and "),
                path.display()
            );
            let missing: Vec<&str> = list
                .iter()
                .flat_map(Requirement::key_files)
                .filter(|key| !Path::new(key).is_file())
                .collect();
            if list.contains(&Requirement::Reject) {
                fail(format!("{text}; cipug cannot update it: change the policy or the image"))
            } else if !missing.is_empty() {
                fail(format!(
                    "{text}; key file {} is missing, so podman refuses every pull: put the key there or fix keyPath",
                    missing.join(", ")
                ))
            } else {
                ok(text)
            }
        })
        .collect()
}

/// The distinct `(registry, repository)` pairs of the services' TAGGED entries.
fn repositories(loaded: &[Service]) -> BTreeSet<(String, String)> {
    loaded
        .iter()
        .flat_map(|s| s.images.iter())
        .filter_map(|image| ImageRef::parse(&image.tagged).ok())
        .map(|image| (image.registry, image.repository))
        .collect()
}
