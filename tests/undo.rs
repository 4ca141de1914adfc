//! End to end: the undo. A failed update is rolled back with snapper (pin and data together)
//! and held back afterwards; `cipug rollback` and `cipug history`, what a rollback reverts
//! and its way back; one run at a time; notifications; `--dry-run`. Crash-looping images
//! with a restart policy, with Debian's podman-compose (1.0.3) and the newest one; a
//! container that `down` leaves behind.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use support::{Behaviour, Deployed, Stack, COMPOSE, COMPOSE_RESTARTING, DEBIAN_COMPOSE};

#[test]
fn a_crashing_image_is_rolled_back_and_held_back() {
    let mut stack = Stack::new();
    let Deployed { img, d1, svc } = stack.deployed("u1-crash", COMPOSE, &[]);

    let d2 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Crash);
    let run = stack.cipug(&["--cache-duration", "0"], &[]);
    run.expect_code(34);
    assert!(
        run.stderr
            .contains(&format!("rolled back u1-crash to {img}@{d1}")),
        "{}",
        run.stderr
    );
    assert_eq!(
        stack.pin("u1-crash"),
        Some(format!("{img}@{d1}")),
        "old pin back"
    );
    assert!(
        !svc.join("data/started-2").exists(),
        "what the failed version wrote is gone"
    );
    assert!(svc.join("data/started-1").exists());
    let (state, image) = stack.containers("u1-crash").into_values().next().unwrap();
    assert_eq!(
        (state.as_str(), image.as_str()),
        ("running", format!("{img}@{d1}").as_str())
    );
    let snapshots = stack.snapshots("u1-crash");
    assert_eq!(
        snapshots.len(),
        3,
        "first pin, before v2, failed state: {snapshots:?}"
    );
    assert!(snapshots[2].1.contains("rollback"), "{snapshots:?}");
    // The failed state was kept for inspection.
    let failed = svc.join(format!(".snapshots/{}/snapshot", snapshots[2].0));
    assert!(failed.join("data/started-2").exists());
    let events = stack.history("u1-crash");
    let last = events.last().unwrap();
    assert_eq!(last["outcome"], "rolled back");
    assert_eq!(last["new"], format!("{img}@{d2}"));
    assert_eq!(last["snapshot_before"], snapshots[1].0);
    assert_eq!(last["snapshot_failed"], snapshots[2].0);

    // The next run holds the bad digest back: no snapshot, no restart.
    let run = stack.cipug(&["--cache-duration", "0"], &[]);
    run.expect_code(0);
    assert!(run.stderr.contains("held back"), "{}", run.stderr);
    assert_eq!(stack.snapshots("u1-crash").len(), 3);
    assert_eq!(stack.pin("u1-crash"), Some(format!("{img}@{d1}")));
    assert_eq!(
        stack.history("u1-crash").last().unwrap()["outcome"],
        "held back"
    );

    // A good image on the tag updates normally.
    let d3 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "3", Behaviour::Serve);
    stack.cipug(&["--cache-duration", "0"], &[]).expect_code(0);
    assert_eq!(stack.pin("u1-crash"), Some(format!("{img}@{d3}")));
    support::wait_for("v3 to start", 10, || svc.join("data/started-3").exists());
}

/// The one container of `service` runs `pin` and has not restarted.
fn assert_runs(stack: &Stack, service: &str, pin: &str) {
    let containers = stack.inspect(service);
    assert_eq!(containers.len(), 1, "{containers:#?}");
    let c = &containers[0];
    assert_eq!(c["State"]["Status"], "running", "{c:#?}");
    assert_eq!(c["RestartCount"], 0, "{c:#?}");
    assert_eq!(c["Image"].as_str().unwrap(), stack.image_id(pin));
}

/// Ten crash-looping new images in a row (each writes to its data, then exits 1, and is
/// restarted by `restart: unless-stopped`): each is caught by the gate and rolled back, with
/// the old image running and the snapshot's data in place. One stack for the ten runs.
fn crash_loops_are_caught_every_time(compose_tool: &str) {
    let mut stack = Stack::new();
    let env = [
        ("CIPUG_COMPOSE_TOOL", compose_tool),
        ("CIPUG_CACHE_DURATION", "0"),
        ("CIPUG_HEALTH_TIMEOUT", "20"),
    ];
    let Deployed { img, d1, svc } = stack.deployed("u6-loop", COMPOSE_RESTARTING, &env);
    let old = format!("{img}@{d1}");
    for run in 1..=10 {
        fs::write(svc.join("data/version"), "1\n").unwrap();
        let version = format!("crash{run}");
        let bad = stack.images.push(
            &stack.registry,
            "demo/app:latest",
            &version,
            Behaviour::Crash,
        );
        let started = Instant::now();
        let out = stack.cipug(&[], &env);
        out.expect_code(34);
        assert!(
            out.stderr
                .contains(&format!("rolled back u6-loop to {old}")),
            "run {run}: {}",
            out.stderr
        );
        assert_eq!(stack.pin("u6-loop"), Some(old.clone()), "run {run}");
        assert_runs(&stack, "u6-loop", &old);
        assert_eq!(
            fs::read_to_string(svc.join("data/version")).unwrap(),
            "1\n",
            "run {run}: the snapshot's data is back"
        );
        assert!(
            !svc.join(format!("data/started-{version}")).exists(),
            "run {run}"
        );
        // The failed digest is held back: the broken version does not come back.
        let history = stack.history("u6-loop");
        assert_eq!(history.last().unwrap()["new"], format!("{img}@{bad}"));
        eprintln!(
            "run {run}: caught and rolled back in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
}

#[test]
fn crash_loops_are_caught_every_time_with_debian_podman_compose() {
    crash_loops_are_caught_every_time(DEBIAN_COMPOSE);
}

#[test]
fn crash_loops_are_caught_every_time_with_the_newest_podman_compose() {
    crash_loops_are_caught_every_time(&support::newest_compose());
}

/// Two containers, one pin changes: the gate passes with the new image in one container and
/// the unchanged image in the other, after the settle period.
#[test]
fn a_container_whose_image_did_not_change_passes_the_gate() {
    let mut stack = Stack::new();
    let img = stack.image("demo/app");
    let side = stack.image("demo/side");
    stack
        .images
        .push(&stack.registry, "demo/app:latest", "1", Behaviour::Serve);
    let s1 = stack
        .images
        .push(&stack.registry, "demo/side:latest", "s1", Behaviour::Serve);
    let compose = format!(
        "{COMPOSE_RESTARTING}  side:\n    image: ${{SERVICE_SIDE_IMAGE_HASHED}}\n    restart: unless-stopped\n    volumes:\n      - ./data:/data\n"
    );
    stack.service(
        "u8-two",
        &compose,
        &format!("SERVICE_APP_IMAGE_TAGGED={img}\nSERVICE_SIDE_IMAGE_TAGGED={side}\n"),
        true,
    );
    let env = [("CIPUG_CACHE_DURATION", "0"), ("CIPUG_HEALTH_SETTLE", "3")];
    stack.cipug(&[], &env).expect_code(0);
    let d2 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Serve);
    let out = stack.cipug(&["--verbosity", "2"], &env);
    out.expect_code(0);
    assert!(
        out.stderr
            .contains("u8-two: 2 container(s) up and unchanged for 3s"),
        "{}",
        out.stderr
    );
    let mut images: Vec<String> = stack
        .inspect("u8-two")
        .iter()
        .map(|c| c["Image"].as_str().unwrap().to_owned())
        .collect();
    images.sort();
    let mut want = vec![
        stack.image_id(&format!("{img}@{d2}")),
        stack.image_id(&format!("{side}@{s1}")),
    ];
    want.sort();
    assert_eq!(images, want);
}

/// A project with a one-shot `init` (finished with exit code 0, `restart: "no"`) and a `db`
/// restarted before the update (by `podman restart` and by its restart policy): both are
/// judged against themselves, so the first pin and the update of `app` pass the gate, and
/// neither is restarted by it.
#[test]
fn finished_one_shots_and_a_db_restarted_long_ago_pass_the_gate() {
    let mut stack = Stack::new();
    let app = stack.image("demo/app");
    let init = stack.image("demo/init");
    let db = stack.image("demo/db");
    // Three versions, so three image IDs.
    for (repo, version) in [("app", "1"), ("init", "i1"), ("db", "d1")] {
        stack.images.push(
            &stack.registry,
            &format!("demo/{repo}:latest"),
            version,
            Behaviour::Serve,
        );
    }
    let compose = format!(
        "{COMPOSE}  init:\n    image: ${{SERVICE_INIT_IMAGE_HASHED}}\n    command: [\"/bin/sh\", \"-c\", \"echo done > /data/init-done\"]\n    restart: \"no\"\n    volumes:\n      - ./data:/data\n  db:\n    image: ${{SERVICE_DB_IMAGE_HASHED}}\n    restart: unless-stopped\n"
    );
    let svc = stack.service(
        "u9-siblings",
        &compose,
        &format!(
            "SERVICE_APP_IMAGE_TAGGED={app}\nSERVICE_INIT_IMAGE_TAGGED={init}\nSERVICE_DB_IMAGE_TAGGED={db}\n"
        ),
        true,
    );
    let env = [("CIPUG_CACHE_DURATION", "0"), ("CIPUG_HEALTH_SETTLE", "2")];
    // The first pin starts all three; the init finishes with 0.
    let first = stack.cipug(&[], &env);
    first.expect_code(0);
    assert!(svc.join("data/init-done").exists(), "{}", first.stderr);
    let by_service = |stack: &Stack, service: &str| -> serde_json::Value {
        stack
            .inspect("u9-siblings")
            .into_iter()
            .find(|c| c["Config"]["Labels"]["com.docker.compose.service"] == service)
            .unwrap_or_else(|| panic!("no {service} container"))
    };
    let db_before = by_service(&stack, "db");
    let restarted = support::sh_in(
        &stack.root,
        &stack.container_env(),
        "podman",
        &["restart", db_before["Id"].as_str().unwrap()],
    );
    assert!(restarted.status.success(), "{restarted:?}");
    // And once by its restart policy (`podman restart` leaves the restart count as it is):
    // its shell ends on TERM with 0, which `unless-stopped` restarts.
    let id = db_before["Id"].as_str().unwrap().to_owned();
    let ended = support::sh_in(
        &stack.root,
        &stack.container_env(),
        "podman",
        &["exec", &id, "/bin/sh", "-c", "kill -TERM 1"],
    );
    assert!(ended.status.success(), "{ended:?}");
    support::wait_for("the db to be restarted by its policy", 20, || {
        let db = by_service(&stack, "db");
        db["RestartCount"] == 1 && db["State"]["Status"] == "running"
    });
    let db_before = by_service(&stack, "db");
    eprintln!(
        "db before the update: restart count {}, started at {}",
        db_before["RestartCount"], db_before["State"]["StartedAt"]
    );
    let init_before = by_service(&stack, "init");
    assert_eq!(init_before["State"]["Status"], "exited", "{init_before:#?}");
    let d2 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Serve);
    let run = stack.cipug(&[], &env);
    run.expect_code(0);
    assert_eq!(
        stack.pin("u9-siblings"),
        Some(format!("{app}@{d2}")),
        "{}",
        run.stderr
    );
    let app_now = by_service(&stack, "app");
    assert_eq!(app_now["State"]["Status"], "running", "{app_now:#?}");
    assert_eq!(
        app_now["Image"].as_str().unwrap(),
        stack.image_id(&format!("{app}@{d2}"))
    );
    // The db and the init are the containers they were, not started again.
    let db_now = by_service(&stack, "db");
    for key in ["Id", "RestartCount"] {
        assert_eq!(db_now[key], db_before[key], "{db_now:#?}");
    }
    assert_eq!(
        db_now["State"]["StartedAt"],
        db_before["State"]["StartedAt"]
    );
    assert_eq!(db_now["State"]["Status"], "running");
    let init_now = by_service(&stack, "init");
    assert_eq!(init_now["Id"], init_before["Id"]);
    assert_eq!(
        init_now["State"]["StartedAt"],
        init_before["State"]["StartedAt"]
    );
}

/// A stand-in compose tool: `down` leaves a crash-looping container in place and exits 0,
/// as podman-compose 1.0.3 does at times ("cannot remove container ... as it is running");
/// everything else goes to the real tool in `$REAL_COMPOSE`.
const LEAKY_COMPOSE: &str = r#"#!/bin/sh
if [ "$1" = down ]; then
  for id in $(podman ps -a -q --filter "label=com.docker.compose.project=$LEAKY_PROJECT"); do
    if [ "$(podman container inspect --format '{{.RestartCount}} {{.State.ExitCode}}' "$id")" != "0 0" ]; then
      echo "Error: cannot remove container $id as it is running (stand-in)" >&2
      exit 0
    fi
  done
fi
exec $REAL_COMPOSE "$@"
"#;

/// A stand-in container tool that cannot stop or remove a project's containers once one of
/// them crashed (the update's own removal of the healthy old container works); the rest goes
/// to podman.
const STUBBORN_PODMAN: &str = r#"#!/bin/sh
case "$1" in stop|rm)
  for id in $(podman ps -a -q --filter "label=com.docker.compose.project=$LEAKY_PROJECT"); do
    if [ "$(podman container inspect --format '{{.RestartCount}} {{.State.ExitCode}}' "$id")" != "0 0" ]; then
      echo "Error: cannot stop or remove $* (stand-in)" >&2
      exit 125
    fi
  done;;
esac
exec podman "$@"
"#;

/// A crash-looping container that `down` leaves behind: cipug removes it before it puts the
/// files back; one that cannot be removed gets nothing restored under it.
fn containers_left_by_down(compose_tool: &str) {
    let mut stack = Stack::new();
    stack.stand_in("leaky-compose", LEAKY_COMPOSE);
    stack.stand_in("stubborn-podman", STUBBORN_PODMAN);
    let env = [
        ("CIPUG_COMPOSE_TOOL", "leaky-compose"),
        ("REAL_COMPOSE", compose_tool),
        ("LEAKY_PROJECT", "u7-leak"),
        ("CIPUG_CACHE_DURATION", "0"),
        ("CIPUG_HEALTH_TIMEOUT", "20"),
    ];
    let Deployed { img, d1, svc } = stack.deployed("u7-leak", COMPOSE_RESTARTING, &env);
    fs::write(svc.join("data/version"), "1\n").unwrap();
    let old = format!("{img}@{d1}");

    // `down` leaves the broken container: cipug removes it, then rolls back.
    stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Crash);
    let out = stack.cipug(&[], &env);
    out.expect_code(34);
    assert!(
        out.stderr.contains("left after stopping; removing them"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("rolled back u7-leak to {old}")),
        "{}",
        out.stderr
    );
    assert_runs(&stack, "u7-leak", &old);
    assert_eq!(fs::read_to_string(svc.join("data/version")).unwrap(), "1\n");

    // It cannot be removed either: nothing is restored under it, and the error says so.
    let d3 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "3", Behaviour::Crash);
    let snapshots = stack.snapshots("u7-leak").len();
    let mut stubborn = env.to_vec();
    stubborn.push(("CIPUG_CONTAINER_TOOL", "stubborn-podman"));
    let out = stack.cipug(&[], &stubborn);
    out.expect_code(34);
    let new = format!("{img}@{d3}");
    assert!(
        out.stderr.contains("not rolled back, nothing was restored")
            && out
                .stderr
                .contains("still exist after `down`, `stop` and `rm -f`")
            && out.stderr.contains(&format!(
                "the files still hold the failed version (pins: APP={new})"
            )),
        "{}",
        out.stderr
    );
    assert_eq!(stack.pin("u7-leak"), Some(new), "the .env was not put back");
    assert_eq!(
        stack.snapshots("u7-leak").len(),
        snapshots + 1,
        "only the snapshot before the update: no undo was started"
    );
    assert_eq!(
        fs::read_to_string(svc.join("data/version")).unwrap(),
        "3\n",
        "the broken version's data stays, nothing was put back under it"
    );
    assert_eq!(
        stack.inspect("u7-leak").len(),
        1,
        "the container is still there"
    );
}

#[test]
fn containers_left_by_down_with_debian_podman_compose() {
    containers_left_by_down(DEBIAN_COMPOSE);
}

#[test]
fn containers_left_by_down_with_the_newest_podman_compose() {
    containers_left_by_down(&support::newest_compose());
}

#[test]
fn a_failing_healthcheck_is_rolled_back_without_waiting_out_the_timeout() {
    let mut stack = Stack::new();
    let compose = format!(
        "{COMPOSE}    healthcheck:\n      test: [\"CMD\", \"/bin/cat\", \"/tmp/ok\"]\n      interval: 1s\n      retries: 2\n"
    );
    let Deployed { img, d1, svc: _ } = stack.deployed("u2-health", &compose, &[]);
    stack.images.push(
        &stack.registry,
        "demo/app:latest",
        "2",
        Behaviour::Unhealthy,
    );
    let started = Instant::now();
    let run = stack.cipug(
        &["--cache-duration", "0"],
        &[("CIPUG_HEALTH_TIMEOUT", "120")],
    );
    run.expect_code(34);
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "took {:?}",
        started.elapsed()
    );
    assert!(run.stderr.contains("unhealthy"), "{}", run.stderr);
    assert_eq!(stack.pin("u2-health"), Some(format!("{img}@{d1}")));
    assert_eq!(
        stack
            .containers("u2-health")
            .into_values()
            .next()
            .unwrap()
            .0,
        "running"
    );
}

#[test]
fn rollback_on_request_and_history() {
    let mut stack = Stack::new();
    let img = stack.image("demo/app");
    let d1 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "1", Behaviour::Serve);
    let svc = stack.service(
        "u3-manual",
        COMPOSE,
        &format!("SERVICE_APP_IMAGE_TAGGED={img}\n"),
        true,
    );
    stack.service(
        "u3-other",
        COMPOSE,
        &format!("SERVICE_APP_IMAGE_TAGGED={img}\n"),
        true,
    );
    let no_cache = ["--cache-duration", "0"];
    stack.cipug(&no_cache, &[]).expect_code(0); // snapshot 1 of each: unpinned -> d1
    let d2 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Serve);
    stack
        .cipug(&no_cache, &[("CIPUG_SERVICES_FILTER", "u3-manual")])
        .expect_code(0); // 2: d1 -> d2
    support::wait_for("v2 to start", 10, || svc.join("data/started-2").exists());
    let d3 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "3", Behaviour::Serve);
    stack
        .cipug(&no_cache, &[("CIPUG_SERVICES_FILTER", "u3-manual")])
        .expect_code(0); // 3: d2 -> d3
    support::wait_for("v3 to start", 10, || svc.join("data/started-3").exists());
    assert_eq!(stack.pin("u3-manual"), Some(format!("{img}@{d3}")));

    // Back to before the latest update: pin d2, and v3's data gone.
    let run = stack.cipug(&["rollback", "u3-manual"], &[]);
    run.expect_code(0);
    assert!(
        run.stdout
            .contains(&format!("rolled back u3-manual APP to {img}@{d2}")),
        "{}",
        run.stdout
    );
    assert_eq!(stack.pin("u3-manual"), Some(format!("{img}@{d2}")));
    assert!(!svc.join("data/started-3").exists());
    assert!(svc.join("data/started-2").exists());
    assert_eq!(
        stack.containers("u3-manual").into_values().next().unwrap(),
        ("running".to_owned(), format!("{img}@{d2}"))
    );
    // The next run does not undo the rollback: d3 is held back.
    let run = stack.cipug(&no_cache, &[("CIPUG_SERVICES_FILTER", "u3-manual")]);
    run.expect_code(0);
    assert_eq!(stack.pin("u3-manual"), Some(format!("{img}@{d2}")));

    // --to an older snapshot: the one before d1 -> d2.
    let before_d2 = stack
        .history("u3-manual")
        .iter()
        .find(|e| e["new"] == format!("{img}@{d2}") && e["outcome"] == "updated")
        .unwrap()["snapshot_before"]
        .as_u64()
        .unwrap();
    stack
        .cipug(
            &["rollback", "u3-manual", "--to", &before_d2.to_string()],
            &[],
        )
        .expect_code(0);
    assert_eq!(stack.pin("u3-manual"), Some(format!("{img}@{d1}")));
    assert!(!svc.join("data/started-2").exists());

    // A snapshot number that u3-manual's config does not have (only u3-other's would be) is refused.
    let mine: Vec<u64> = stack.snapshots("u3-manual").iter().map(|s| s.0).collect();
    let run = stack.cipug(&["rollback", "u3-manual", "--to", "999"], &[]);
    run.expect_code(31);
    assert!(run.stderr.contains("not a snapshot of"), "{}", run.stderr);
    assert_eq!(
        stack
            .snapshots("u3-manual")
            .iter()
            .map(|s| s.0)
            .collect::<Vec<_>>(),
        mine,
        "nothing taken"
    );

    // History, text and JSON.
    let events = stack.history("u3-manual");
    let outcomes: Vec<&str> = events
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "updated",
            "updated",
            "updated",
            "rollback",
            "held back",
            "rollback"
        ],
        "{events:?}"
    );
    assert_eq!(events[3]["old"], format!("{img}@{d3}"));
    assert_eq!(events[3]["new"], format!("{img}@{d2}"));
    let all = stack.cipug(&["history"], &[]);
    all.expect_code(0);
    assert!(all.stdout.lines().next().unwrap().starts_with("TIME"));
    assert!(
        all.stdout.contains("u3-other") && all.stdout.contains("rollback"),
        "{}",
        all.stdout
    );
}

/// The `cipug=` userdata of snapshot `number` of service `name`.
fn snapshot_userdata(stack: &Stack, name: &str, number: u64) -> Option<String> {
    let config = stack.snapper_config(name);
    let json: serde_json::Value = serde_json::from_str(&support::sh(
        "snapper",
        &["-c", &config, "--jsonout", "list"],
    ))
    .unwrap();
    json[&config]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["number"] == number)
        .and_then(|s| s["userdata"]["cipug"].as_str().map(str::to_owned))
}

/// `cipug rollback` says what it reverts: `--dry-run` lists the files of every compose service
/// of the folder and the pins, and changes nothing; the rollback keeps the state before it in a
/// snapshot and prints the command that undoes it; `--pins-only` keeps the data.
#[test]
fn rollback_says_what_it_reverts_and_how_to_undo_it() {
    let mut stack = Stack::new();
    let img = stack.image("demo/app");
    let db = stack.image("demo/db");
    let d1 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "1", Behaviour::Serve);
    stack
        .images
        .push(&stack.registry, "demo/db:latest", "s1", Behaviour::Serve);
    let compose = format!(
        "{COMPOSE}  db:\n    image: ${{SERVICE_DB_IMAGE_HASHED}}\n    volumes:\n      - ./db:/data\n"
    );
    let name = "u9-reverts";
    let svc = stack.service(
        name,
        &compose,
        &format!("SERVICE_APP_IMAGE_TAGGED={img}\nSERVICE_DB_IMAGE_TAGGED={db}\n"),
        true,
    );
    fs::create_dir_all(svc.join("db")).unwrap();
    let no_cache = ["--cache-duration", "0"];
    stack.cipug(&no_cache, &[]).expect_code(0);
    support::wait_for("the db to start", 10, || svc.join("db/started-s1").exists());
    let d2 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Serve);
    stack.cipug(&no_cache, &[]).expect_code(0); // APP d1 -> d2, DB unchanged
    support::wait_for("v2 to start", 10, || svc.join("data/started-2").exists());
    assert_eq!(stack.pin(name), Some(format!("{img}@{d2}")));
    // Written after the update: an upload, and the unchanged db's data.
    fs::write(svc.join("data/upload.txt"), "a photo").unwrap();
    fs::write(svc.join("db/started-s1"), "rows written since").unwrap();

    // --dry-run: both files, the pin, and nothing changed.
    let env_before = fs::read(svc.join(".env")).unwrap();
    let snapshots = stack.snapshots(name);
    let ids = stack.container_ids(name);
    let run = stack.cipug(&["rollback", name, "--dry-run"], &[]);
    run.expect_code(0);
    for line in [
        "+..... data/upload.txt",
        "c..... db/started-s1",
        "c..... .env",
        &format!("APP: {img}@{d2} -> {img}@{d1}"),
        "dry run: nothing was changed",
    ] {
        assert!(run.stdout.contains(line), "{line}:\n{}", run.stdout);
    }
    assert!(!run.stdout.contains("DB:"), "{}", run.stdout);
    assert_eq!(fs::read(svc.join(".env")).unwrap(), env_before);
    assert_eq!(
        fs::read_to_string(svc.join("data/upload.txt")).unwrap(),
        "a photo"
    );
    assert_eq!(
        fs::read_to_string(svc.join("db/started-s1")).unwrap(),
        "rows written since"
    );
    assert_eq!(stack.snapshots(name), snapshots, "no snapshot taken");
    assert_eq!(stack.container_ids(name), ids, "nothing stopped");

    // The rollback: the count, the kept state, and the command that undoes it, last.
    let run = stack.cipug(&["rollback", name], &[]);
    run.expect_code(0);
    assert!(
        run.stdout
            .contains(&format!("{name}: the rollback to snapshot ")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(" file(s) in the service folder:"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("+..... data/upload.txt"),
        "{}",
        run.stdout
    );
    let undo_command = run.stdout.lines().last().unwrap().to_owned();
    let kept: u64 = undo_command
        .strip_prefix(&format!("cipug rollback {name} --to "))
        .unwrap_or_else(|| panic!("{}", run.stdout))
        .parse()
        .unwrap();
    assert_eq!(
        snapshot_userdata(&stack, name, kept).as_deref(),
        Some("before-rollback")
    );
    let description = stack
        .snapshots(name)
        .into_iter()
        .find(|s| s.0 == kept)
        .unwrap()
        .1;
    assert!(
        description.starts_with(&format!(
            "cipug: state before rollback of {name} to snapshot "
        )),
        "{description}"
    );
    assert!(!svc.join("data/upload.txt").exists());
    assert_eq!(stack.pin(name), Some(format!("{img}@{d1}")));
    let history = stack.cipug(&["history", name], &[]);
    history.expect_code(0);
    assert!(
        history
            .stdout
            .contains(&format!("state before rollback {kept}"))
            && !history.stdout.contains("failed state"),
        "{}",
        history.stdout
    );

    // The printed command undoes the rollback: the upload and the pin are back.
    let words: Vec<&str> = undo_command.split_whitespace().skip(1).collect();
    stack.cipug(&words, &[]).expect_code(0);
    assert_eq!(
        fs::read_to_string(svc.join("data/upload.txt")).unwrap(),
        "a photo"
    );
    assert_eq!(stack.pin(name), Some(format!("{img}@{d2}")));

    // --pins-only: the pin before the update, the upload kept, and the warning.
    let run = stack.cipug(&["rollback", name, "--pins-only"], &[]);
    run.expect_code(0);
    assert!(
        run.stdout
            .contains("may not read data that a newer one migrated"),
        "{}",
        run.stdout
    );
    assert_eq!(stack.pin(name), Some(format!("{img}@{d1}")));
    assert_eq!(
        fs::read_to_string(svc.join("data/upload.txt")).unwrap(),
        "a photo"
    );
    assert_eq!(
        stack
            .containers(name)
            .values()
            .map(|c| c.1.clone())
            .collect::<Vec<_>>(),
        [
            format!("{img}@{d1}"),
            format!("{db}@{}", env_pin(&svc, "DB"))
        ]
    );
}

/// The HASHED pin of entry `entry` in the service folder's `.env`, its digest only.
fn env_pin(svc: &std::path::Path, entry: &str) -> String {
    fs::read_to_string(svc.join(".env"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("SERVICE_{entry}_IMAGE_HASHED=")))
        .and_then(|p| p.split_once('@'))
        .map(|(_, digest)| digest.to_owned())
        .unwrap()
}

#[test]
fn one_run_at_a_time_and_notifications() {
    let mut stack = Stack::new();
    let img = stack.image("demo/app");
    stack
        .images
        .push(&stack.registry, "demo/app:latest", "1", Behaviour::Serve);
    stack.service(
        "u4-notify",
        COMPOSE,
        &format!("SERVICE_APP_IMAGE_TAGGED={img}\n"),
        true,
    );

    // A server that records the JSON POSTed to NOTIFY_URL.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/cipug-topic", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut line, mut length) = (String::new(), 0);
            reader.read_line(&mut line).unwrap();
            let mut header = String::new();
            while reader.read_line(&mut header).unwrap() > 2 {
                if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                header.clear();
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            tx.send((line, String::from_utf8(body).unwrap())).unwrap();
            let mut stream = stream;
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .unwrap();
        }
    });
    let recorded = stack.work.path().join("notified.env");
    let command = format!(
        "sh -c 'env | grep ^CIPUG_NOTIFY_ | sort >> {}; sleep 30'",
        recorded.display()
    );
    let mut first = stack
        .cipug_command(&[], &[("CIPUG_NOTIFY_COMMAND", &command)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    support::wait_for("the notification", 60, || recorded.exists());
    // The first run sits in its notification command: a second run is refused at once.
    let started = Instant::now();
    let run = stack.cipug(&[], &[]);
    run.expect_code(11);
    assert!(run.stderr.contains("another cipug run"), "{}", run.stderr);
    assert!(started.elapsed() < Duration::from_secs(10));
    // Killed hard, the first run leaves nothing that blocks the next.
    first.kill().unwrap();
    first.wait().unwrap();
    stack.cipug(&[], &[]).expect_code(0);

    let vars = fs::read_to_string(&recorded).unwrap();
    for want in [
        "CIPUG_NOTIFY_SERVICE=u4-notify".to_owned(),
        "CIPUG_NOTIFY_ENTRY=APP".to_owned(),
        "CIPUG_NOTIFY_OUTCOME=updated".to_owned(),
        "CIPUG_NOTIFY_OLD_PIN=".to_owned(),
        format!("CIPUG_NOTIFY_NEW_PIN={img}@sha256:"),
    ] {
        assert!(
            vars.lines().any(|l| l.starts_with(&want)),
            "{want} missing in {vars}"
        );
    }
    // The next update is POSTed to NOTIFY_URL.
    let d2 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Serve);
    stack
        .cipug(&["--cache-duration", "0"], &[("CIPUG_NOTIFY_URL", &url)])
        .expect_code(0);
    let (request, body) = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(request.starts_with("POST /cipug-topic"), "{request}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["service"], "u4-notify");
    assert_eq!(json["outcome"], "updated");
    assert_eq!(json["title"], "cipug: u4-notify updated");
    assert_eq!(json["new_pin"], format!("{img}@{d2}"));
    assert!(json["old_pin"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{img}@sha256:")));
}

#[test]
fn dry_run_changes_nothing() {
    let mut stack = Stack::new();
    let img = stack.image("demo/app");
    stack
        .images
        .push(&stack.registry, "demo/app:latest", "1", Behaviour::Serve);
    let svc = stack.service(
        "u5-dry",
        COMPOSE,
        &format!("# keep\nSERVICE_APP_IMAGE_TAGGED={img}\n"),
        true,
    );
    stack.cipug(&[], &[]).expect_code(0);
    let d2 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Serve);
    let env_before = fs::read_to_string(svc.join(".env")).unwrap();
    let snapshots = stack.snapshots("u5-dry");
    let ids = stack.container_ids("u5-dry");
    let cache = stack.work.path().join("cache/cache.json");
    let cache_before = fs::read(&cache).unwrap();
    let run = stack.cipug(&["update", "--dry-run", "--cache-duration", "0"], &[]);
    run.expect_code(0);
    assert!(
        run.stdout
            .contains(&format!("+ SERVICE_APP_IMAGE_HASHED={img}@{d2}")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("- SERVICE_APP_IMAGE_HASHED="),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("snapper -c") && run.stdout.contains("podman-compose up -d"),
        "{}",
        run.stdout
    );
    assert_eq!(fs::read_to_string(svc.join(".env")).unwrap(), env_before);
    assert_eq!(stack.snapshots("u5-dry"), snapshots);
    assert_eq!(stack.container_ids("u5-dry"), ids);
    assert_eq!(fs::read(&cache).unwrap(), cache_before);
    assert!(stack
        .history("u5-dry")
        .iter()
        .all(|e| e["new"] != format!("{img}@{d2}")));
}

#[test]
fn a_failed_first_pin_starts_the_service_on_its_tag_and_is_held_back() {
    let mut stack = Stack::new();
    let img = stack.image("demo/first");
    stack
        .images
        .push(&stack.registry, "demo/first:latest", "1", Behaviour::Serve);
    let env = format!("SERVICE_APP_IMAGE_TAGGED={img}\n");
    let svc = stack.service("u9-first", COMPOSE, &env, true);
    // Before adoption the service ran on its tag.
    let up = support::sh_in(
        &svc,
        &[
            stack.container_env(),
            vec![("SERVICE_APP_IMAGE_HASHED".into(), format!("{img}:latest"))],
        ]
        .concat(),
        "podman-compose",
        &["up", "-d"],
    );
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    support::wait_for("v1 to start", 10, || svc.join("data/started-1").exists());

    // The first pin is a broken image: rolled back, the service runs on its tag again.
    let d2 = stack
        .images
        .push(&stack.registry, "demo/first:latest", "2", Behaviour::Crash);
    let run = stack.cipug(&["--health-timeout", "20"], &[]);
    run.expect_code(34);
    assert!(
        run.stderr.contains("rolled back u9-first"),
        "{}",
        run.stderr
    );
    assert_eq!(fs::read_to_string(svc.join(".env")).unwrap(), env);
    let containers = stack.containers("u9-first");
    let (state, image) = containers.values().next().unwrap();
    assert_eq!(
        (state.as_str(), image.as_str()),
        ("running", format!("{img}:latest").as_str())
    );
    let events = stack.history("u9-first");
    let last = events.last().unwrap();
    assert_eq!(last["outcome"], "rolled back", "{events:?}");
    assert!(last["snapshot_before"].is_u64() && last["snapshot_failed"].is_u64());

    // Held back like any other failed digest.
    let run = stack.cipug(&[], &[]);
    run.expect_code(0);
    assert!(run.stderr.contains("held back"), "{}", run.stderr);
    assert!(run.stderr.contains(&d2), "{}", run.stderr);
}
