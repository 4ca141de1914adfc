//! End to end: what runs is what is pinned when other compose services depend on the one
//! that changes. podman-compose 1.1 and later create a dependent with `--requires=<db>`
//! (`depends_on`) and join namespaces for `network_mode: service:<vpn>`; podman then refuses
//! to remove the depended-on container while its dependents exist. docker's containers
//! join a namespace as `container:<id>` and link with `links:`. Real registry, btrfs,
//! snapper, podman with podman-compose 1.0.3 (Debian 12's), 1.3.0 (Debian 13's) and the
//! newest, and a private dockerd with docker-compose 1.29 and docker compose v2.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::fs;

use support::{Behaviour, Flavour, Stack};

fn pin(stack: &Stack, name: &str, entry: &str) -> Option<String> {
    fs::read_to_string(stack.root.join(name).join(".env"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("SERVICE_{entry}_IMAGE_HASHED=")))
        .map(str::to_owned)
}

/// A `db` the `app` depends on (`depends_on`, and `links` with docker, which podman has
/// not) and, with `sidecar`, a `sidecar` in the db's network namespace; the db's image
/// changes and the update goes through, every container running what the `.env` pins.
fn a_depended_on_service_is_updated(flavour: Flavour, name: &str, sidecar: bool) {
    let mut stack = Stack::with_flavour(flavour);
    let app = stack.image("demo/app");
    let db = stack.image("demo/db");
    let app1 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "a1", Behaviour::Serve);
    stack
        .images
        .push(&stack.registry, "demo/db:latest", "d1", Behaviour::Serve);
    let mut compose = "services:\n  db:\n    image: ${SERVICE_DB_IMAGE_HASHED}\n  app:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n    depends_on:\n      - db\n".to_owned();
    if flavour.docker() {
        compose.push_str("    links:\n      - db:database\n");
    }
    if sidecar {
        compose.push_str("  sidecar:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n    network_mode: service:db\n    depends_on:\n      - db\n");
    }
    let expected = if sidecar { 3 } else { 2 };
    stack.service(
        name,
        &compose,
        &format!("SERVICE_APP_IMAGE_TAGGED={app}\nSERVICE_DB_IMAGE_TAGGED={db}\n"),
        true,
    );
    let env = [("CIPUG_CACHE_DURATION", "0")];
    stack.cipug(&[], &env).expect_code(0);
    let first = stack.containers(name);
    assert_eq!(
        first.len(),
        expected,
        "the first run starts them all: {first:?}"
    );
    let db2 = stack
        .images
        .push(&stack.registry, "demo/db:latest", "d2", Behaviour::Serve);
    let run = stack.cipug(&[], &env);
    run.expect_code(0);
    assert_eq!(pin(&stack, name, "DB"), Some(format!("{db}@{db2}")));
    let containers = stack.containers(name);
    let running: Vec<(&String, &String)> = containers
        .iter()
        .filter(|(_, (state, _))| state == "running")
        .map(|(n, (_, image))| (n, image))
        .collect();
    assert_eq!(running.len(), expected, "{containers:?}");
    for (container, image) in running {
        let want = if container.contains("db") {
            format!("{db}@{db2}")
        } else {
            format!("{app}@{app1}")
        };
        assert_eq!(image, &want, "{container}: {containers:?}");
    }
    joined_and_linked_run(&stack, name);
}

/// Every namespace a container of project `name` joins (`container:<id>`) is one that runs
/// now, not the replaced one; every container it links to (docker, on the project's network:
/// `<name>:<alias>`, looked up by name when asked) runs.
fn joined_and_linked_run(stack: &Stack, name: &str) {
    let ids = stack.container_ids(name);
    let mut args = vec!["container", "inspect"];
    args.extend(ids.iter().map(String::as_str));
    let out = support::sh_in(
        &stack.root,
        &stack.container_env(),
        &stack.flavour.container_tool(),
        &args,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let runs = |target: &str| {
        all.iter().any(|c| {
            let id = c["Id"].as_str().unwrap_or("");
            let cname = c["Name"].as_str().unwrap_or("").trim_start_matches('/');
            c["State"]["Status"] == "running" && (id.starts_with(target) || cname == target)
        })
    };
    for c in &all {
        let who = c["Name"].as_str().unwrap_or("");
        let mode = c["HostConfig"]["NetworkMode"].as_str().unwrap_or("");
        if let Some(target) = mode.strip_prefix("container:") {
            assert!(runs(target), "{who} joins {target}, which does not run");
        }
        let networks = c["NetworkSettings"]["Networks"].as_object();
        let links = networks.into_iter().flat_map(|n| n.values());
        let links = links.flat_map(|n| n["Links"].as_array().into_iter().flatten());
        for link in links {
            let target = link.as_str().unwrap_or("").split(':').next().unwrap_or("");
            assert!(runs(target), "{who} links to {target}, which does not run");
        }
    }
}

#[test]
fn a_depended_on_service_is_updated_with_the_newest_podman_compose() {
    a_depended_on_service_is_updated(Flavour::PodmanComposeNewest, "dep-new", true);
}

#[test]
fn a_depended_on_service_is_updated_with_podman_compose_1_3() {
    a_depended_on_service_is_updated(Flavour::PodmanCompose13, "dep-13", true);
}

#[test]
fn a_depended_on_service_is_updated_with_debian_podman_compose() {
    // podman-compose 1.0.3 does not start a `network_mode: service:` container at all.
    a_depended_on_service_is_updated(Flavour::PodmanCompose10, "dep-deb", false);
}

#[test]
fn a_depended_on_service_is_updated_with_docker_compose_1_29() {
    a_depended_on_service_is_updated(Flavour::DockerCompose, "dep-v1", true);
}

#[test]
fn a_depended_on_service_is_updated_with_docker_compose_v2() {
    a_depended_on_service_is_updated(Flavour::DockerComposeV2, "dep-v2", true);
}

#[test]
fn a_depended_on_service_is_updated_with_docker_compose_v2_on_docker_26() {
    a_depended_on_service_is_updated(Flavour::DockerComposePlugin26, "dep-26", true);
}
