//! End to end: the project as the compose tool sees it. A top-level `name:` and
//! `COMPOSE_PROJECT_NAME` in the `.env` name the compose project with podman-compose 1.1 and
//! later (and docker compose); podman-compose 1.0.3 takes the folder's name whatever they
//! say. cipug must look for the containers under the name the tool used: before, with the
//! newest podman-compose the gate found none and rolled every good update back. Real
//! registry, btrfs, snapper, podman, and podman-compose 1.0.3 (Debian's) and the newest;
//! the named projects also with docker compose v2 and a private dockerd.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::fs;

use support::{Behaviour, Deployed, Flavour, Stack, COMPOSE, DEBIAN_COMPOSE};

/// The images the running containers of compose project `project` were created from.
fn running_images(stack: &Stack, project: &str) -> Vec<String> {
    stack
        .containers(project)
        .into_values()
        .filter(|(state, _)| state == "running")
        .map(|(_, image)| image)
        .collect()
}

/// A service named `custom-<folder>` through `how` (`name:`, the `.env`, or `both`: the
/// `.env` and a `name: File-<folder>`) is pinned and updated; its containers run under
/// `project`.
fn a_named_project_is_updated(flavour: Flavour, folder: &str, how: &str, project: &str) {
    let mut stack = Stack::with_flavour(flavour);
    a_named_project_is_updated_in(&mut stack, folder, how, project);
}

/// [`a_named_project_is_updated`] in a stack that may hold other such folders: each has an
/// image of its own, and each run updates only its folder.
fn a_named_project_is_updated_in(stack: &mut Stack, folder: &str, how: &str, project: &str) {
    let repo = format!("demo/{folder}");
    let img = stack.image(&repo);
    let latest = format!("{repo}:latest");
    let d1 = stack
        .images
        .push(&stack.registry, &latest, "1", Behaviour::Serve);
    let (compose, env) = match how {
        "name" => (format!("name: custom-{folder}\n{COMPOSE}"), String::new()),
        "both" => (
            format!("name: File-{folder}\n{COMPOSE}"),
            format!("COMPOSE_PROJECT_NAME=custom-{folder}\n"),
        ),
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
        ("CIPUG_CACHE_DURATION", "0"),
        ("CIPUG_SERVICES_FILTER", folder),
    ];
    stack.cipug(&[], &tool).expect_code(0);
    assert_eq!(running_images(stack, project), [format!("{img}@{d1}")]);
    let d2 = stack
        .images
        .push(&stack.registry, &latest, "2", Behaviour::Serve);
    stack.cipug(&[], &tool).expect_code(0);
    assert!(fs::read_to_string(svc.join(".env")).unwrap().contains(&d2));
    assert_eq!(running_images(stack, project), [format!("{img}@{d2}")]);
}

#[test]
fn a_project_named_in_the_compose_file_with_the_newest_podman_compose() {
    a_named_project_is_updated(
        Flavour::PodmanComposeNewest,
        "pn-new",
        "name",
        "custom-pn-new",
    );
}

#[test]
fn a_project_named_in_the_env_with_the_newest_podman_compose() {
    a_named_project_is_updated(
        Flavour::PodmanComposeNewest,
        "pe-new",
        "env",
        "custom-pe-new",
    );
}

#[test]
fn podman_compose_1_0_keeps_the_folders_name() {
    a_named_project_is_updated(Flavour::PodmanCompose10, "pn-deb", "name", "pn-deb");
    a_named_project_is_updated(Flavour::PodmanCompose10, "pe-deb", "env", "pe-deb");
}

#[test]
fn a_project_named_in_the_compose_file_or_the_env_with_docker_compose_v2() {
    // One daemon for the three folders.
    let mut stack = Stack::with_flavour(Flavour::DockerComposeV2);
    a_named_project_is_updated_in(&mut stack, "pn-v2", "name", "custom-pn-v2");
    a_named_project_is_updated_in(&mut stack, "pe-v2", "env", "custom-pe-v2");
    a_named_project_is_updated_in(&mut stack, "pb-v2", "both", "custom-pb-v2");
}

#[test]
fn podman_compose_1_3_takes_the_files_name_first_as_written() {
    a_named_project_is_updated(Flavour::PodmanCompose13, "pb-13", "both", "File-pb-13");
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

/// Services that come through an `include:`d file and through `extends:` of a service in
/// another file (each path relative to the file naming it) are recreated with the one they
/// share the variable with; the summary names the containers the update created. Where
/// cipug cannot follow an include (a variable in its path), it says so and restarts the
/// whole project: every container runs the new pin all the same. podman-compose 1.6 (1.0
/// has no `include:`).
#[test]
fn includes_and_extends_of_other_files_with_the_newest_podman_compose() {
    let mut stack = Stack::new();
    let img = stack.image("demo/app");
    stack
        .images
        .push(&stack.registry, "demo/app:latest", "1", Behaviour::Serve);
    let cases = [
        ("inc-known", "lib/side.yml", ""),
        ("inc-unsure", "${LIB}/side.yml", "LIB=lib\n"),
    ];
    let mut folders = Vec::new();
    for (folder, include, env) in cases {
        let compose = format!(
            "include:\n  - {include}\n{COMPOSE}  worker:\n    extends:\n      file: common/base.yml\n      service: base\n"
        );
        let svc = stack.service(
            folder,
            &compose,
            &format!("{env}SERVICE_APP_IMAGE_TAGGED={img}\n"),
            true,
        );
        fs::create_dir_all(svc.join("lib")).unwrap();
        fs::create_dir_all(svc.join("common")).unwrap();
        fs::write(
            svc.join("lib/side.yml"),
            "services:\n  side:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n",
        )
        .unwrap();
        fs::write(
            svc.join("common/base.yml"),
            "services:\n  base:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n    command: [\"/bin/sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1; done\"]\n",
        )
        .unwrap();
        folders.push(folder);
    }
    let newest = support::newest_compose();
    let tool = [
        ("CIPUG_COMPOSE_TOOL", newest.as_str()),
        ("CIPUG_CACHE_DURATION", "0"),
    ];
    stack.cipug(&[], &tool).expect_code(0);
    let d2 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Serve);
    let run = stack.cipug(&[], &tool);
    run.expect_code(0);
    let pin = format!("{img}@{d2}");
    for folder in folders {
        let running = running_images(&stack, folder);
        assert_eq!(running.len(), 3, "{folder}: app, worker, side: {running:?}");
        assert!(
            running.iter().all(|image| *image == pin),
            "{folder}: {running:?}"
        );
    }
    assert!(
        run.stdout.contains("inc-known: recreated") && run.stdout.contains("worker"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("a path with a variable in it")
            && run.stderr.contains("the whole project restarts"),
        "{}",
        run.stderr
    );
}

/// A container of the project that the update did not recreate still runs the image the
/// pin replaced (here one no compose file describes any more, as a service the compose
/// model missed would): the promise "the pin is what runs" does not hold, so the gate
/// fails, names it, and the update is rolled back. Before, only the compose services the
/// plan named were looked at, and the update passed.
#[test]
fn a_container_left_on_the_replaced_image_fails_the_gate() {
    let mut stack = Stack::new();
    let folder = "left-on-old";
    let tool = [
        ("CIPUG_COMPOSE_TOOL", DEBIAN_COMPOSE),
        ("CIPUG_CACHE_DURATION", "0"),
    ];
    let Deployed { img, d1, svc: _ } = stack.deployed(folder, COMPOSE, &tool);
    let old = format!("{img}@{d1}");
    let out = support::sh_in(
        &stack.root,
        &stack.container_env(),
        "podman",
        &[
            "run",
            "-d",
            "--name",
            "left-on-old_helper_1",
            "--label",
            &format!("com.docker.compose.project={folder}"),
            "--label",
            "com.docker.compose.service=helper",
            &old,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Serve);
    let run = stack.cipug(&[], &tool);
    run.expect_code(34);
    assert!(
        run.stderr.contains("left-on-old_helper_1 still runs")
            && run.stderr.contains("`helper` was not recreated"),
        "{}",
        run.stderr
    );
    assert_eq!(
        stack.pin(folder),
        Some(old),
        "rolled back to the pin that runs"
    );
}
