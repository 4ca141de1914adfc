//! End to end, once per compose tool: Debian 12's podman-compose 1.0.3, Debian 13's 1.3.0
//! and the newest podman-compose (PyPI, in virtualenvs), Debian 12's docker-compose 1.29 and
//! Debian 13's docker compose v2 2.26.1, standalone and as the `docker compose` plugin (of
//! Debian 12's docker 20.10 and of Debian 13's docker 26.1.5), with a private dockerd. Each runs an update, a failing update with automatic rollback and
//! `cipug rollback`, plus what differs between the tools: `--env-file`, whether the process
//! environment wins over the `.env`, the pull check, the exit code of a failed `up`, and what
//! `doctor` says. The other
//! end-to-end suites cover the rest with podman-compose 1.0.3.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::fs;

use support::{Behaviour, Flavour, Stack, COMPOSE};

fn pin(stack: &Stack, name: &str, file: &str) -> Option<String> {
    fs::read_to_string(stack.root.join(name).join(file))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("SERVICE_APP_IMAGE_HASHED="))
        .map(str::to_owned)
}

/// The one container of project `service` runs `pin`, under the name its tool gives it:
/// `<project>-app-1` (docker compose v2), `<project>_app_1` (the Python tools).
fn running_on(stack: &Stack, service: &str, pin: &str) {
    let containers = stack.containers(service);
    assert_eq!(containers.len(), 1, "{containers:?}");
    let (name, (state, image)) = containers.into_iter().next().unwrap();
    let sep = if stack.flavour.v2() { "-" } else { "_" };
    assert_eq!(name, format!("{service}{sep}app{sep}1"));
    assert_eq!((state.as_str(), image.as_str()), ("running", pin));
}

fn update_gate_and_rollback(flavour: Flavour, version: &str) {
    let mut stack = Stack::with_flavour(flavour);
    let img = stack.image("demo/app");
    let no_cache = ["--cache-duration", "0"];
    let d1 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "1", Behaviour::Serve);
    let compose = format!(
        "{COMPOSE}    healthcheck:\n      test: [\"CMD\", \"/bin/cat\", \"/tmp/ok\"]\n      interval: 1s\n      retries: 2\n"
    );
    let svc = stack.service(
        "f-app",
        &compose,
        &format!("SERVICE_APP_IMAGE_TAGGED={img}\n"),
        true,
    );

    // doctor names the tool and its version.
    let doctor = stack.cipug(&["doctor"], &[]);
    assert!(
        doctor
            .stdout
            .contains(&format!("is {version}, with container tool")),
        "{}",
        doctor.stdout
    );

    // First pin. An image variable in cipug's own environment does not beat the `.env`:
    // newer tools would prefer it, so they do not get it.
    let bogus = format!("{img}@sha256:{}", "0".repeat(64));
    stack
        .cipug(&[], &[("SERVICE_APP_IMAGE_HASHED", bogus.as_str())])
        .expect_code(0);
    assert_eq!(pin(&stack, "f-app", ".env"), Some(format!("{img}@{d1}")));
    running_on(&stack, "f-app", &format!("{img}@{d1}"));
    support::wait_for("v1 to start", 10, || svc.join("data/started-1").exists());

    // A healthy update, with pruning. Every tool gets the image pulled by digest with the
    // container tool first, whose exit status tells a failed pull.
    let d2 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Serve);
    let dry = stack.cipug(&["update", "--dry-run", "--cache-duration", "0"], &[]);
    dry.expect_code(0);
    assert!(
        dry.stdout.contains(&format!(" pull {img}@{d2}")),
        "{}",
        dry.stdout
    );
    stack
        .cipug(&no_cache, &[("CIPUG_PRUNE_IMAGES", "true")])
        .expect_code(0);
    assert_eq!(pin(&stack, "f-app", ".env"), Some(format!("{img}@{d2}")));
    running_on(&stack, "f-app", &format!("{img}@{d2}"));
    support::wait_for("v2 to start", 10, || svc.join("data/started-2").exists());

    // An update whose healthcheck fails is rolled back: pin and data, container on v2.
    let d3 = stack.images.push(
        &stack.registry,
        "demo/app:latest",
        "3",
        Behaviour::Unhealthy,
    );
    let run = stack.cipug(&no_cache, &[("CIPUG_HEALTH_TIMEOUT", "60")]);
    run.expect_code(34);
    assert!(
        run.stderr
            .contains(&format!("rolled back f-app to {img}@{d2}")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("unhealthy"), "{}", run.stderr);
    assert_eq!(pin(&stack, "f-app", ".env"), Some(format!("{img}@{d2}")));
    assert!(!svc.join("data/started-3").exists());
    running_on(&stack, "f-app", &format!("{img}@{d2}"));

    // `cipug rollback`: back to v1, pin and data.
    let run = stack.cipug(&["rollback", "f-app"], &[]);
    run.expect_code(0);
    assert_eq!(pin(&stack, "f-app", ".env"), Some(format!("{img}@{d1}")));
    assert!(!svc.join("data/started-2").exists());
    running_on(&stack, "f-app", &format!("{img}@{d1}"));
    let history = stack.cipug(&["history", "f-app", "--format", "json"], &[]);
    let events: serde_json::Value = serde_json::from_str(&history.stdout).unwrap();
    let outcomes: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["updated", "updated", "rolled back", "rollback"],
        "{d3}"
    );

    // Another env file name: passed with --env-file where the tool has it; podman-compose
    // 1.0 has none, and cipug says so before changing anything.
    let other = stack.service("f-envfile", COMPOSE, "", true);
    fs::remove_file(other.join(".env")).unwrap();
    fs::write(
        other.join("app.env"),
        format!("SERVICE_APP_IMAGE_TAGGED={img}\n"),
    )
    .unwrap();
    let run = stack.cipug(&no_cache, &[("CIPUG_ENV_FILE_NAME", "app.env")]);
    if flavour == Flavour::PodmanCompose10 {
        run.expect_code(25);
        assert!(run.stderr.contains("has no --env-file"), "{}", run.stderr);
        assert_eq!(pin(&stack, "f-envfile", "app.env"), None);
    } else {
        run.expect_code(0);
        assert_eq!(
            pin(&stack, "f-envfile", "app.env"),
            Some(format!("{img}@{d3}"))
        );
        running_on(&stack, "f-envfile", &format!("{img}@{d3}"));
    }
    fs::remove_file(other.join("app.env")).unwrap();
    failing_up(flavour, &mut stack);
}

/// A service whose `up` fails: podman-compose before 1.4 exits 0 and the health gate
/// catches it; the other tools exit non-zero and cipug reports that at once. Both exit 34.
fn failing_up(flavour: Flavour, stack: &mut Stack) {
    let img = stack.image("demo/app");
    let broken =
        "services:\n  app:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n    user: nosuchuser\n";
    stack.service(
        "f-upfails",
        broken,
        &format!("SERVICE_APP_IMAGE_TAGGED={img}\n"),
        true,
    );
    let run = stack.cipug(
        &["--cache-duration", "0"],
        &[
            ("CIPUG_SERVICES_FILTER", "f-upfails"),
            ("CIPUG_AUTO_ROLLBACK", "false"),
        ],
    );
    run.expect_code(34);
    let up_failed = run.stderr.contains("up -d") && run.stderr.contains("exited with status");
    let exits_0 = matches!(flavour, Flavour::PodmanCompose10 | Flavour::PodmanCompose13);
    assert_eq!(up_failed, !exits_0, "{}", run.stderr);
}

#[test]
fn podman_compose_1_0() {
    update_gate_and_rollback(Flavour::PodmanCompose10, "podman-compose 1.0.3");
}

#[test]
fn podman_compose_1_3() {
    update_gate_and_rollback(Flavour::PodmanCompose13, "podman-compose 1.3.0");
}

#[test]
fn podman_compose_newest() {
    update_gate_and_rollback(Flavour::PodmanComposeNewest, "podman-compose 1.6.0");
}

#[test]
fn docker_compose() {
    update_gate_and_rollback(Flavour::DockerCompose, "docker compose 1.29.2");
}

#[test]
fn docker_compose_v2() {
    update_gate_and_rollback(Flavour::DockerComposeV2, "docker compose 2.26.1");
}

#[test]
fn docker_compose_v2_plugin() {
    update_gate_and_rollback(Flavour::DockerComposePlugin, "docker compose 2.26.1");
}

#[test]
fn docker_compose_v2_plugin_on_docker_26() {
    update_gate_and_rollback(Flavour::DockerComposePlugin26, "docker compose 2.26.1");
}
