//! End to end: the project as the compose tool sees it. A top-level `name:` and
//! `COMPOSE_PROJECT_NAME` in the `.env` name the compose project with podman-compose 1.1 and
//! later (and docker compose); podman-compose 1.0.3 takes the folder's name whatever they
//! say. cipug must look for the containers under the name the tool used: before, with the
//! newest podman-compose the gate found none and rolled every good update back. Real
//! registry, btrfs, snapper, podman, and podman-compose 1.0.3 (Debian's) and the newest.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::fs;

use support::{Behaviour, Stack, COMPOSE, DEBIAN_COMPOSE};

/// The images the running containers of compose project `project` were created from.
fn running_images(stack: &Stack, project: &str) -> Vec<String> {
    let out = support::sh_in(
        &stack.root,
        &stack.container_env(),
        "podman",
        &[
            "ps",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
            "--format",
            "{{.Image}}",
        ],
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A service named `custom-<folder>` through `how` (`name:` or the `.env`) is pinned and
/// updated; its containers run under `project`.
fn a_named_project_is_updated(compose_tool: &str, folder: &str, how: &str, project: &str) {
    let mut stack = Stack::new();
    let img = stack.image("demo/app");
    let d1 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "1", Behaviour::Serve);
    let (compose, env) = match how {
        "name" => (format!("name: custom-{folder}\n{COMPOSE}"), String::new()),
        _ => (
            COMPOSE.to_owned(),
            format!("COMPOSE_PROJECT_NAME=custom-{folder}\n"),
        ),
    };
    let svc = stack.service(
        folder,
        &compose,
        &format!("{env}SERVICE_APP_IMAGE_TAGGED={img}\n"),
        true,
    );
    let tool = [
        ("CIPUG_COMPOSE_TOOL", compose_tool),
        ("CIPUG_CACHE_DURATION", "0"),
    ];
    stack.cipug(&[], &tool).expect_code(0);
    assert_eq!(running_images(&stack, project), [format!("{img}@{d1}")]);
    let d2 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Serve);
    stack.cipug(&[], &tool).expect_code(0);
    assert!(fs::read_to_string(svc.join(".env")).unwrap().contains(&d2));
    assert_eq!(running_images(&stack, project), [format!("{img}@{d2}")]);
}

#[test]
fn a_project_named_in_the_compose_file_with_the_newest_podman_compose() {
    a_named_project_is_updated(
        &support::newest_compose(),
        "pn-new",
        "name",
        "custom-pn-new",
    );
}

#[test]
fn a_project_named_in_the_env_with_the_newest_podman_compose() {
    a_named_project_is_updated(&support::newest_compose(), "pe-new", "env", "custom-pe-new");
}

#[test]
fn podman_compose_1_0_keeps_the_folders_name() {
    a_named_project_is_updated(DEBIAN_COMPOSE, "pn-deb", "name", "pn-deb");
    a_named_project_is_updated(DEBIAN_COMPOSE, "pe-deb", "env", "pe-deb");
}

/// A service in `compose.override.yml` and one that `extends:` the changed one take the
/// image through the same variable: after the update every one of them runs the new pin.
fn services_through_override_files_and_extends_are_recreated(compose_tool: &str, folder: &str) {
    let mut stack = Stack::new();
    let img = stack.image("demo/app");
    stack
        .images
        .push(&stack.registry, "demo/app:latest", "1", Behaviour::Serve);
    let compose = format!("{COMPOSE}  worker:\n    extends: app\n");
    let svc = stack.service(
        folder,
        &compose,
        &format!("SERVICE_APP_IMAGE_TAGGED={img}\n"),
        true,
    );
    fs::write(
        svc.join("compose.override.yml"),
        "services:\n  sidekick:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n",
    )
    .unwrap();
    let tool = [
        ("CIPUG_COMPOSE_TOOL", compose_tool),
        ("CIPUG_CACHE_DURATION", "0"),
    ];
    stack.cipug(&[], &tool).expect_code(0);
    let d2 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Serve);
    stack.cipug(&[], &tool).expect_code(0);
    let pin = format!("{img}@{d2}");
    let running = running_images(&stack, folder);
    assert_eq!(running.len(), 3, "app, worker, sidekick: {running:?}");
    assert!(running.iter().all(|image| *image == pin), "{running:?}");
}

#[test]
fn override_files_and_extends_with_the_newest_podman_compose() {
    services_through_override_files_and_extends_are_recreated(&support::newest_compose(), "ov-new");
}

#[test]
fn override_files_and_extends_with_debian_podman_compose() {
    services_through_override_files_and_extends_are_recreated(DEBIAN_COMPOSE, "ov-deb");
}
