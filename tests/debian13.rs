//! End to end on today's Debian: cipug's static binary inside a Debian 13 (trixie) root
//! with its podman 5.4.2, podman-compose 1.3.0 and snapper 0.10.6, against a registry on the
//! host. An update, a failing update rolled back, `cipug rollback`, a depended-on service and
//! `doctor`: the checks of `compose_tools.rs` and `dependents.rs` on the host's tools.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use support::debian13::Debian13;
use support::{Behaviour, COMPOSE};

/// The one container of project `service` runs `pin`.
fn running_on(debian: &Debian13, service: &str, pin: &str) {
    let containers = debian.containers(service);
    assert_eq!(containers.len(), 1, "{containers:?}");
    let (name, (state, image)) = containers.into_iter().next().unwrap();
    assert_eq!(name, format!("{service}_app_1"));
    assert_eq!((state.as_str(), image.as_str()), ("running", pin));
}

#[test]
fn update_gate_and_rollback_with_podman_5_4() {
    let mut debian = Debian13::start();
    let img = debian.image("demo/app");
    let no_cache = ["--cache-duration", "0"];
    let d1 = debian
        .images
        .push(&debian.registry, "demo/app:latest", "1", Behaviour::Serve);
    let compose = format!(
        "{COMPOSE}    healthcheck:\n      test: [\"CMD\", \"/bin/cat\", \"/tmp/ok\"]\n      interval: 1s\n      retries: 2\n"
    );
    let svc = debian.service(
        "f-app",
        &compose,
        &format!("SERVICE_APP_IMAGE_TAGGED={img}\n"),
    );

    // First pin.
    debian.cipug(&[], &[]).expect_code(0);
    assert_eq!(debian.pin("f-app", "APP"), Some(format!("{img}@{d1}")));
    running_on(&debian, "f-app", &format!("{img}@{d1}"));
    support::wait_for("v1 to start", 10, || svc.join("data/started-1").exists());

    // A healthy update, with pruning.
    let d2 = debian
        .images
        .push(&debian.registry, "demo/app:latest", "2", Behaviour::Serve);
    debian
        .cipug(&no_cache, &[("CIPUG_PRUNE_IMAGES", "true")])
        .expect_code(0);
    assert_eq!(debian.pin("f-app", "APP"), Some(format!("{img}@{d2}")));
    running_on(&debian, "f-app", &format!("{img}@{d2}"));
    support::wait_for("v2 to start", 10, || svc.join("data/started-2").exists());

    // An update whose healthcheck fails is rolled back: pin and data, container on v2.
    debian.images.push(
        &debian.registry,
        "demo/app:latest",
        "3",
        Behaviour::Unhealthy,
    );
    let run = debian.cipug(&no_cache, &[("CIPUG_HEALTH_TIMEOUT", "60")]);
    run.expect_code(34);
    assert!(
        run.stderr
            .contains(&format!("rolled back f-app to {img}@{d2}")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("unhealthy"), "{}", run.stderr);
    assert_eq!(debian.pin("f-app", "APP"), Some(format!("{img}@{d2}")));
    assert!(!svc.join("data/started-3").exists());
    running_on(&debian, "f-app", &format!("{img}@{d2}"));

    // `cipug rollback`: back to v1, pin and data.
    debian.cipug(&["rollback", "f-app"], &[]).expect_code(0);
    assert_eq!(debian.pin("f-app", "APP"), Some(format!("{img}@{d1}")));
    assert!(!svc.join("data/started-2").exists());
    running_on(&debian, "f-app", &format!("{img}@{d1}"));
    let history = debian.cipug(&["history", "f-app", "--format", "json"], &[]);
    let events: serde_json::Value = serde_json::from_str(&history.stdout).unwrap();
    let outcomes: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["updated", "updated", "rolled back", "rollback"]);

    // doctor names the tools inside the root.
    let doctor = debian.cipug(&["doctor"], &[]);
    assert!(
        doctor
            .stdout
            .contains("is podman-compose 1.3.0, with container tool `podman` (podman 5.4.2)"),
        "{}{}",
        doctor.stdout,
        doctor.stderr
    );
}

/// podman-compose 1.3.0 creates the `app` with `--requires=<db>`: podman 5.4 refuses to
/// remove the db while the app exists. The db's image changes and the update goes through,
/// both running what the `.env` pins.
#[test]
fn a_depended_on_service_is_updated_with_podman_5_4() {
    let mut debian = Debian13::start();
    let app = debian.image("demo/app");
    let db = debian.image("demo/db");
    let app1 = debian
        .images
        .push(&debian.registry, "demo/app:latest", "a1", Behaviour::Serve);
    debian
        .images
        .push(&debian.registry, "demo/db:latest", "d1", Behaviour::Serve);
    let compose = "services:\n  db:\n    image: ${SERVICE_DB_IMAGE_HASHED}\n  app:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n    depends_on:\n      - db\n";
    debian.service(
        "dep",
        compose,
        &format!("SERVICE_APP_IMAGE_TAGGED={app}\nSERVICE_DB_IMAGE_TAGGED={db}\n"),
    );
    let env = [("CIPUG_CACHE_DURATION", "0")];
    debian.cipug(&[], &env).expect_code(0);
    assert_eq!(debian.containers("dep").len(), 2);
    let db2 = debian
        .images
        .push(&debian.registry, "demo/db:latest", "d2", Behaviour::Serve);
    debian.cipug(&[], &env).expect_code(0);
    assert_eq!(debian.pin("dep", "DB"), Some(format!("{db}@{db2}")));
    let containers = debian.containers("dep");
    let want = |name: &str| {
        let image = if name.contains("db") {
            format!("{db}@{db2}")
        } else {
            format!("{app}@{app1}")
        };
        ("running".to_owned(), image)
    };
    assert_eq!(containers.len(), 2, "{containers:?}");
    for (name, state) in &containers {
        assert_eq!(state, &want(name), "{name}: {containers:?}");
    }
}
