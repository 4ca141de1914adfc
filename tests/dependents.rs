//! End to end: what runs is what is pinned when other compose services depend on the one
//! that changes. podman-compose 1.1 and later create a dependent with `--requires=<db>`
//! (`depends_on`) and join namespaces for `network_mode: service:<vpn>`; podman then refuses
//! to remove the depended-on container while its dependents exist. Real registry, btrfs,
//! snapper, podman, and podman-compose 1.0.3 (Debian's) and the newest from the virtualenv.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::fs;

use support::{Behaviour, Stack, DEBIAN_COMPOSE};

fn pin(stack: &Stack, name: &str, entry: &str) -> Option<String> {
    fs::read_to_string(stack.root.join(name).join(".env"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("SERVICE_{entry}_IMAGE_HASHED=")))
        .map(str::to_owned)
}

/// A `db` the `app` depends on (`depends_on`) and, with `sidecar`, a `sidecar` in the db's
/// network namespace; the db's image changes and the update goes through, every container
/// running what the `.env` pins.
fn a_depended_on_service_is_updated(compose_tool: &str, name: &str, sidecar: bool) {
    let mut stack = Stack::new();
    let app = stack.image("demo/app");
    let db = stack.image("demo/db");
    let app1 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "a1", Behaviour::Serve);
    stack
        .images
        .push(&stack.registry, "demo/db:latest", "d1", Behaviour::Serve);
    let mut compose = "services:\n  db:\n    image: ${SERVICE_DB_IMAGE_HASHED}\n  app:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n    depends_on:\n      - db\n".to_owned();
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
    let env = [
        ("CIPUG_COMPOSE_TOOL", compose_tool),
        ("CIPUG_CACHE_DURATION", "0"),
    ];
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
}

#[test]
fn a_depended_on_service_is_updated_with_the_newest_podman_compose() {
    a_depended_on_service_is_updated(&support::newest_compose(), "dep-new", true);
}

#[test]
fn a_depended_on_service_is_updated_with_debian_podman_compose() {
    // podman-compose 1.0.3 does not start a `network_mode: service:` container at all.
    a_depended_on_service_is_updated(DEBIAN_COMPOSE, "dep-deb", false);
}
