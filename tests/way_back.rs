//! End to end: the way back survives every interruption. A rollback after a failed update is
//! killed (SIGKILL, as a unit stop or a power cut would) at each of its steps; the next run
//! finishes it to the snapshot the journal recorded, never to a new one, and the service
//! runs its old pins with the old data. Real registry, btrfs, snapper and podman-compose; the
//! kills come from the debug build's failpoints (`CIPUG_FAILPOINT`).
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::fs;

use support::{Behaviour, Deployed, Stack, COMPOSE};

#[test]
fn a_rollback_killed_at_any_step_is_finished_to_the_recorded_snapshot() {
    let mut stack = Stack::new();
    let img = stack.image("demo/app");
    let d1 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "1", Behaviour::Serve);
    let points = cipug::base::failpoint::ROLLBACK_POINTS;
    let names: Vec<String> = points.iter().map(|p| format!("w-{p}")).collect();
    for name in &names {
        stack.service(
            name,
            COMPOSE,
            &format!("SERVICE_APP_IMAGE_TAGGED={img}\n"),
            true,
        );
    }
    stack.cipug(&[], &[]).expect_code(0);
    for name in &names {
        let data = stack.root.join(name).join("data/started-1");
        support::wait_for("v1 to start", 20, || data.exists());
    }
    // A release that writes into its data and crashes: its update is rolled back.
    stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Crash);
    let old_pin = format!("{img}@{d1}");
    for (point, name) in points.iter().zip(&names) {
        let dir = stack.root.join(name);
        let filter = ["--cache-duration", "0", "--services-filter", name.as_str()];
        let run = stack.cipug(&filter, &[("CIPUG_FAILPOINT", point)]);
        assert_eq!(run.code, -1, "{point}: killed\n{}", run.stderr);
        assert!(
            stack
                .work
                .path()
                .join(format!("state/pending/{name}.json"))
                .exists(),
            "{point}: the journal knows a rollback is unfinished"
        );
        // The tag still points to the bad release: the next run must not try it again
        // before the rollback is finished.
        let run = stack.cipug(&filter, &[]);
        assert_eq!(run.code, 34, "{point}: rolled back\n{}", run.stderr);
        assert!(
            run.stderr
                .contains("finishing a rollback an interrupted run left behind"),
            "{point}: {}",
            run.stderr
        );
        assert_eq!(stack.pin(name), Some(old_pin.clone()), "{point}");
        assert!(
            !dir.join("data/started-2").exists(),
            "{point}: bad data left"
        );
        assert!(dir.join("data/started-1").exists(), "{point}");
        let containers = stack.containers(name);
        assert_eq!(
            containers.values().next(),
            Some(&("running".to_owned(), old_pin.clone())),
            "{point}: {containers:?}"
        );
        assert!(
            !stack
                .work
                .path()
                .join(format!("state/pending/{name}.json"))
                .exists(),
            "{point}: journal done"
        );
        // One snapshot before the first pin, one before the bad release, one of the failed
        // state: none of the half-restored data as a new "before".
        let snapshots = stack.snapshots(name);
        assert_eq!(snapshots.len(), 3, "{point}: {snapshots:?}");
        let event = stack.history(name).last().cloned().unwrap();
        assert_eq!(event["outcome"], "rolled back", "{point}: {event}");
        assert_eq!(event["snapshot_before"], snapshots[1].0, "{point}: {event}");
        assert!(
            event["message"]
                .as_str()
                .unwrap()
                .contains("rollback interrupted, finished"),
            "{point}: {event}"
        );
        // And the bad digest is held back from now on.
        let run = stack.cipug(&filter, &[]);
        run.expect_code(0);
        assert!(run.stderr.contains("held back"), "{point}: {}", run.stderr);
        assert_eq!(stack.snapshots(name).len(), 3, "{point}");
    }
}

#[test]
fn a_release_that_fills_the_disk_is_still_rolled_back() {
    let mut stack = Stack::new();
    let Deployed { img, d1, svc } = stack.deployed("w-full", COMPOSE, &[]);
    stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::FillDisk);
    let run = stack.cipug(&["--cache-duration", "0"], &[]);
    run.expect_code(34);
    // The failed state could not be kept; the service was restored all the same.
    assert!(
        run.stderr.contains("the failed state could not be kept"),
        "{}",
        run.stderr
    );
    assert_eq!(stack.pin("w-full"), Some(format!("{img}@{d1}")));
    assert!(
        !svc.join("data/fill").exists(),
        "the full disk's file is gone"
    );
    assert!(!svc.join("data/started-2").exists());
    let containers = stack.containers("w-full");
    assert_eq!(
        containers.values().next(),
        Some(&("running".to_owned(), format!("{img}@{d1}"))),
        "{containers:?}"
    );
    let event = stack.history("w-full").last().cloned().unwrap();
    assert_eq!(event["outcome"], "rolled back", "{event}");
    assert!(event["snapshot_failed"].is_null(), "{event}");
}

#[test]
fn an_update_killed_after_the_stop_starts_the_service_again_when_the_tag_moved_back() {
    let mut stack = Stack::new();
    let Deployed { img, d1, svc: _ } = stack.deployed("w-stopped", COMPOSE, &[]);
    stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Serve);
    // Killed once the changed container is stopped, before the snapshot and the write.
    let run = stack.cipug(
        &["--cache-duration", "0"],
        &[("CIPUG_FAILPOINT", "before-snapshot")],
    );
    assert_eq!(run.code, -1, "killed\n{}", run.stderr);
    assert_eq!(stack.pin("w-stopped"), Some(format!("{img}@{d1}")));
    assert!(
        !stack
            .containers("w-stopped")
            .values()
            .any(|(state, _)| state == "running"),
        "stopped by the killed run"
    );
    // The tag moves back before the next run: nothing to update, but the service must run.
    let again = stack
        .images
        .push(&stack.registry, "demo/app:latest", "1", Behaviour::Serve);
    assert_eq!(again, d1, "the same image again");
    let run = stack.cipug(&["--cache-duration", "0"], &[]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("starting it again on the old ones"),
        "{}",
        run.stderr
    );
    support::wait_for("the old pin to run again", 20, || {
        stack.containers("w-stopped").values().next()
            == Some(&("running".to_owned(), format!("{img}@{d1}")))
    });
    assert!(!stack
        .work
        .path()
        .join("state/pending/w-stopped.json")
        .exists());
}

#[test]
fn a_project_that_was_not_well_before_is_not_updated() {
    let mut stack = Stack::new();
    let app = stack.image("demo/app");
    let db = stack.image("demo/db");
    stack
        .images
        .push(&stack.registry, "demo/app:latest", "1", Behaviour::Serve);
    stack
        .images
        .push(&stack.registry, "demo/db:latest", "1", Behaviour::Serve);
    // The db is healthy while its /tmp/ok exists.
    let compose = format!(
        "{COMPOSE}  db:\n    image: ${{SERVICE_DB_IMAGE_HASHED}}\n    healthcheck:\n      test: [\"CMD\", \"/bin/cat\", \"/tmp/ok\"]\n      interval: 1s\n      retries: 1\n"
    );
    let svc = stack.service(
        "w-sick",
        &compose,
        &format!("SERVICE_APP_IMAGE_TAGGED={app}\nSERVICE_DB_IMAGE_TAGGED={db}\n"),
        true,
    );
    stack.cipug(&[], &[]).expect_code(0);
    let before = stack.inspect("w-sick");
    let env_before = fs::read_to_string(svc.join(".env")).unwrap();
    let snapshots = stack.snapshots("w-sick").len();
    // The db falls ill (its healthcheck runs as podman's timer would run it).
    let db_id = before
        .iter()
        .find(|c| c["Name"].as_str().unwrap_or("").contains("db"))
        .unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    let podman =
        |args: &[&str]| support::sh_in(&stack.root, &stack.container_env(), "podman", args);
    let removed = podman(&["exec", &db_id, "/bin/sh", "-c", "rm /tmp/ok"]);
    assert!(removed.status.success(), "{removed:?}");
    // The first failed check makes it unhealthy (retries: 1).
    let check = podman(&["healthcheck", "run", &db_id]);
    assert!(!check.status.success(), "{check:?}");
    stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Serve);
    let run = stack.cipug(&["--cache-duration", "0"], &[]);
    run.expect_code(34);
    assert!(
        run.stderr.contains("not ready, so not updated") && run.stderr.contains("unhealthy"),
        "{}",
        run.stderr
    );
    // Nothing was touched: no snapshot, the same .env, the same containers.
    assert_eq!(fs::read_to_string(svc.join(".env")).unwrap(), env_before);
    assert_eq!(stack.snapshots("w-sick").len(), snapshots);
    let ids = |cs: &[serde_json::Value]| -> Vec<String> {
        let mut ids: Vec<String> = cs
            .iter()
            .map(|c| c["Id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&stack.inspect("w-sick")), ids(&before));
}
