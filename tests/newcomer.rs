//! End to end: a newcomer's service adopted into cipug's scheme, checked by `doctor`, then
//! updated on the real stack.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::fs;

use support::{Behaviour, Stack};

#[test]
fn adopt_then_doctor_then_update() {
    let mut stack = Stack::new();
    let web = stack
        .images
        .push(&stack.registry, "demo/web:latest", "1", Behaviour::Serve);
    let worker = stack
        .images
        .push(&stack.registry, "demo/worker:2", "1", Behaviour::Serve);
    let reg = stack.registry.addr.clone();
    let compose = format!(
        "# my app, hand-written\nx-common: &common\n  volumes:\n    - ./data:/data  # shared data\n    - ../outside:/outside\n\nservices:\n  web:\n    <<: *common\n    image: \"{reg}/demo/web:latest\"   # the front end\n  my-worker:\n    <<: *common\n    image: ${{REG}}/demo/worker:${{WORKER_TAG:-2}}\n"
    );
    let env = format!("# settings\nREG={reg}\n");
    let dir = stack.service("n1-app", &compose, &env, true);
    fs::create_dir_all(stack.root.join("outside")).unwrap();

    // --dry-run shows the change and writes nothing.
    let run = stack.cipug(&["adopt", dir.to_str().unwrap(), "--dry-run"], &[]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("+ SERVICE_WEB_IMAGE_TAGGED="),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("+     image: \"${SERVICE_WEB_IMAGE_HASHED}\"   # the front end"),
        "{}",
        run.stdout
    );
    assert_eq!(
        fs::read_to_string(dir.join("compose.yml")).unwrap(),
        compose
    );
    assert_eq!(fs::read_to_string(dir.join(".env")).unwrap(), env);
    // A bind mount outside the folder is not in the snapshot: adopt says so.
    assert!(
        run.stderr
            .contains("web: bind mount ../outside is outside the folder: not in the snapshot"),
        "{}",
        run.stderr
    );

    // Doctor before: the compose file does not use the variables yet.
    let run = stack.cipug(&["doctor", "--services-filter", "n1-app"], &[]);
    run.expect_code(12);
    assert!(
        run.stdout.contains("no SERVICE_<X>_IMAGE_TAGGED entry"),
        "{}",
        run.stdout
    );

    let run = stack.cipug(&["adopt", dir.to_str().unwrap()], &[]);
    run.expect_code(0);
    assert!(run.stdout.contains("cipug update"), "{}", run.stdout);
    let adopted = fs::read_to_string(dir.join("compose.yml")).unwrap();
    assert_eq!(
        adopted,
        compose
            .replace(
                &format!("\"{reg}/demo/web:latest\""),
                "\"${SERVICE_WEB_IMAGE_HASHED}\""
            )
            .replace(
                "${REG}/demo/worker:${WORKER_TAG:-2}",
                "${SERVICE_MY_WORKER_IMAGE_HASHED}"
            )
    );
    let env_after = fs::read_to_string(dir.join(".env")).unwrap();
    assert!(env_after.starts_with(&env), "{env_after}");
    assert!(
        env_after.contains(&format!("SERVICE_WEB_IMAGE_TAGGED={reg}/demo/web:latest")),
        "{env_after}"
    );
    // Resolved from the .env as compose resolves it, once.
    assert!(
        env_after.contains(&format!(
            "SERVICE_MY_WORKER_IMAGE_TAGGED={reg}/demo/worker:2"
        )),
        "{env_after}"
    );
    // A second adopt has nothing to do, says so and changes nothing.
    let run = stack.cipug(&["adopt", dir.to_str().unwrap()], &[]);
    run.expect_code(0);
    assert!(run.stdout.contains("already adopted"), "{}", run.stdout);
    assert_eq!(
        fs::read_to_string(dir.join("compose.yml")).unwrap(),
        adopted
    );

    // Doctor after: subvolume, snapper config, variables used, registry answers.
    let run = stack.cipug(&["doctor", "--services-filter", "n1-app"], &[]);
    run.expect_code(0);
    for words in [
        "n1-app: a btrfs subvolume",
        "n1-app: snapper config",
        "uses ${SERVICE_MY_WORKER_IMAGE_HASHED}",
        "registry answers",
        "note  n1-app: my-worker: bind mount ../outside is outside the folder",
    ] {
        assert!(run.stdout.contains(words), "{words}: {}", run.stdout);
    }

    // The adopted service updates on the real stack.
    let run = stack.cipug(
        &["update", "--services-filter", "n1-app", "--format", "json"],
        &[],
    );
    run.expect_code(0);
    let summary: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let results = summary["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{summary}");
    assert!(
        results
            .iter()
            .all(|r| r["outcome"] == "updated" && r["old"].is_null()),
        "{summary}"
    );
    let containers = stack.containers("n1-app");
    let images: Vec<&str> = containers
        .values()
        .map(|(state, image)| {
            assert_eq!(state, "running");
            image.as_str()
        })
        .collect();
    assert!(
        images.contains(&format!("{reg}/demo/web@{web}").as_str()),
        "{containers:?}"
    );
    assert!(
        images.contains(&format!("{reg}/demo/worker@{worker}").as_str()),
        "{containers:?}"
    );
}

#[test]
fn doctor_names_what_to_fix() {
    let root = support::plain_services(&[(
        "plain",
        "SERVICE_APP_IMAGE_TAGGED=127.0.0.1:1/nothing:latest\n",
    )]);
    fs::write(
        root.path().join("plain/compose.yml"),
        "services:\n  app:\n    image: nginx\n",
    )
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let run = support::run_cipug(
        &["doctor", "--compose-tool", "no-such-compose"],
        &[
            ("CIPUG_SERVICES_ROOT", root.path().to_str().unwrap()),
            ("CIPUG_STATE_DIR", state.path().to_str().unwrap()),
            ("CIPUG_INSECURE_REGISTRIES", "127.0.0.1:1"),
            ("CIPUG_REGISTRY_TIMEOUT", "2"),
        ],
    );
    assert_eq!(run.code, 12, "{}\n{}", run.stdout, run.stderr);
    for words in [
        "tool no-such-compose is not installed",
        "is not a btrfs subvolume",
        "does not use ${SERVICE_APP_IMAGE_HASHED}",
        "127.0.0.1:1/nothing:latest: registry 127.0.0.1:1 could not be reached",
    ] {
        assert!(run.stdout.contains(words), "{words}: {}", run.stdout);
    }
}
