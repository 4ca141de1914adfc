//! End to end: `cipug update` against a real registry, btrfs, snapper and podman-compose.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::fs;

use support::{Behaviour, Stack, COMPOSE};

fn hashed(env: &str) -> Option<String> {
    env.lines()
        .find_map(|l| l.strip_prefix("SERVICE_APP_IMAGE_HASHED="))
        .map(str::to_owned)
}

#[test]
fn pins_then_keeps_then_updates_with_snapshot_and_restart() {
    let mut stack = Stack::new();
    let d1 = stack
        .images
        .push(&stack.registry, "demo/alpha:latest", "1", Behaviour::Serve);
    let b1 = stack
        .images
        .push(&stack.registry, "demo/beta:stable", "1", Behaviour::Serve);
    let alpha_img = stack.image("demo/alpha");
    let beta_img = stack.image("demo/beta");
    let alpha = stack.service(
        "e1-alpha",
        COMPOSE,
        &format!("SERVICE_APP_IMAGE_TAGGED={alpha_img}\n"),
        true,
    );
    let beta = stack.service(
        "e1-beta",
        COMPOSE,
        &format!("SERVICE_APP_IMAGE_TAGGED={beta_img}:stable\n"),
        true,
    );

    // First run: every entry pinned, one snapshot per service, containers on the pins.
    let run = stack.cipug(&[], &[]);
    run.expect_code(0);
    let alpha_env = fs::read_to_string(alpha.join(".env")).unwrap();
    assert_eq!(hashed(&alpha_env), Some(format!("{alpha_img}@{d1}")));
    assert_eq!(
        hashed(&fs::read_to_string(beta.join(".env")).unwrap()),
        Some(format!("{beta_img}@{b1}"))
    );
    assert_eq!(stack.snapshots("e1-alpha").len(), 1);
    assert_eq!(stack.snapshots("e1-beta").len(), 1);
    let containers = stack.containers("e1-alpha");
    assert_eq!(containers.len(), 1, "{containers:?}");
    let (state, image) = containers.values().next().unwrap();
    assert_eq!(
        (state.as_str(), image.as_str()),
        ("running", format!("{alpha_img}@{d1}").as_str())
    );
    support::wait_for("alpha to write its start file", 10, || {
        alpha.join("data/started-1").exists()
    });

    // Second run, nothing moved: no snapshot, no restart, .env byte-identical.
    let ids_before = stack.container_ids("e1-alpha");
    let run = stack.cipug(&[], &[]);
    run.expect_code(0);
    assert_eq!(fs::read_to_string(alpha.join(".env")).unwrap(), alpha_env);
    assert_eq!(stack.snapshots("e1-alpha").len(), 1);
    assert_eq!(stack.container_ids("e1-alpha"), ids_before, "not restarted");

    // A new image on alpha's tag: snapshot naming both digests, pin moved, restarted on it.
    fs::write(alpha.join("data/written-before-update"), "precious").unwrap();
    let d2 = stack
        .images
        .push(&stack.registry, "demo/alpha:latest", "2", Behaviour::Serve);
    assert_ne!(d1, d2);
    let run = stack.cipug(&["update", "--cache-duration", "0"], &[]);
    run.expect_code(0);
    let snapshots = stack.snapshots("e1-alpha");
    assert_eq!(snapshots.len(), 2, "{snapshots:?}");
    let (number, description) = &snapshots[1];
    assert!(
        description.contains(&d1) && description.contains(&d2),
        "{description}"
    );
    assert_eq!(
        hashed(&fs::read_to_string(alpha.join(".env")).unwrap()),
        Some(format!("{alpha_img}@{d2}"))
    );
    let (state, image) = stack.containers("e1-alpha").into_values().next().unwrap();
    assert_eq!(
        (state.as_str(), image.as_str()),
        ("running", format!("{alpha_img}@{d2}").as_str())
    );
    support::wait_for("alpha v2 to start", 10, || {
        alpha.join("data/started-2").exists()
    });
    // The snapshot holds the data and the pin from before the update.
    let snap = alpha.join(format!(".snapshots/{number}/snapshot"));
    assert_eq!(
        fs::read_to_string(snap.join("data/written-before-update")).unwrap(),
        "precious"
    );
    assert_eq!(
        hashed(&fs::read_to_string(snap.join(".env")).unwrap()),
        Some(format!("{alpha_img}@{d1}"))
    );
    assert!(!snap.join("data/started-2").exists());
    // beta did not move.
    assert_eq!(stack.snapshots("e1-beta").len(), 1);
}

#[test]
fn a_failing_service_does_not_stop_the_others() {
    let mut stack = Stack::new();
    let img = stack.image("demo/app");
    stack
        .images
        .push(&stack.registry, "demo/app:latest", "1", Behaviour::Serve);
    let env = format!("SERVICE_APP_IMAGE_TAGGED={img}\n");
    // `up` fails: the container's user does not exist (podman-compose itself exits 0).
    let broken =
        "services:\n  app:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n    user: nosuchuser\n";
    let fails = stack.service("e2-a-upfails", broken, &env, true);
    let ok = stack.service("e2-b-ok", COMPOSE, &env, true);
    let nosnap = stack.service("e2-c-nosnapper", COMPOSE, &env, false);
    let bad_env_text = "A=1\nSERVICE_APP_IMAGE_TAGGED=\"unterminated\n";
    let bad_env = stack.service("e2-d-badenv", COMPOSE, bad_env_text, true);

    // Without automatic rollback the failed restart leaves the new pin (the undo has its own
    // tests).
    let run = stack.cipug(
        &[],
        &[
            ("CIPUG_SERVICES_FILTER", "e2-a-upfails,e2-b-ok"),
            ("CIPUG_AUTO_ROLLBACK", "false"),
        ],
    );
    run.expect_code(34);
    assert!(run.stderr.contains("e2-a-upfails"), "{}", run.stderr);
    assert!(hashed(&fs::read_to_string(ok.join(".env")).unwrap()).is_some());
    assert_eq!(
        stack.containers("e2-b-ok").values().next().unwrap().0,
        "running"
    );
    assert!(
        hashed(&fs::read_to_string(fails.join(".env")).unwrap()).is_some(),
        "written before the restart"
    );

    let run = stack.cipug(&[], &[("CIPUG_SERVICES_FILTER", "e2-c-nosnapper")]);
    run.expect_code(31);
    assert!(run.stderr.contains("no snapper config"), "{}", run.stderr);
    assert_eq!(
        fs::read_to_string(nosnap.join(".env")).unwrap(),
        env,
        "untouched"
    );
    assert!(stack.containers("e2-c-nosnapper").is_empty(), "not started");

    let run = stack.cipug(
        &[],
        &[("CIPUG_SERVICES_FILTER_EXCLUDE", "e2-a-upfails,e2-b-ok")],
    );
    run.expect_code(255);
    assert!(
        run.stderr.contains(&format!(
            "{}: line 2: unterminated double quote",
            bad_env.join(".env").display()
        )),
        "{}",
        run.stderr
    );
    assert_eq!(
        fs::read_to_string(bad_env.join(".env")).unwrap(),
        bad_env_text
    );
}

#[test]
fn filters_interpolation_and_lossless_env() {
    let mut stack = Stack::new();
    let d = stack
        .images
        .push(&stack.registry, "demo/app:v7", "7", Behaviour::Serve);
    let img = stack.image("demo/app");
    let registry = &stack.registry.addr.clone();
    let before = format!(
        "# settings of this service\r\n\r\nexport REGISTRY={registry}\r\nPASSWORD='s3cr=t # not a comment'\r\nMOTD=\"line one\r\nline two\"\r\nSERVICE_APP_IMAGE_TAGGED=\"${{REGISTRY}}/demo/app:${{APP_VERSION:-v7}}\" # follow v7\r\n  SERVICE_APP_IMAGE_HASHED = old@sha256:0000000000000000000000000000000000000000000000000000000000000000   # pinned\r\nLAST=1"
    );
    let svc = stack.service("e3-app", COMPOSE, &before, true);
    let skipped = stack.service(
        "e3-skipped",
        COMPOSE,
        &format!("SERVICE_APP_IMAGE_TAGGED={img}:v7\n"),
        true,
    );
    let run = stack.cipug(&[], &[("CIPUG_SERVICES_FILTER_EXCLUDE", "e3-skipped")]);
    run.expect_code(0);
    let after = fs::read_to_string(svc.join(".env")).unwrap();
    let expected = before.replace(
        "old@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        &format!("{img}@{d}"),
    );
    assert_eq!(after, expected, "only the pin changed");
    assert_eq!(
        fs::read_to_string(skipped.join(".env")).unwrap(),
        format!("SERVICE_APP_IMAGE_TAGGED={img}:v7\n")
    );
    assert!(stack.snapshots("e3-skipped").is_empty());
    assert_eq!(
        stack.containers("e3-app").values().next().unwrap().0,
        "running"
    );
}

#[test]
fn systemd_methods_run_systemctl() {
    let mut stack = Stack::new();
    let img = stack.image("demo/app");
    stack
        .images
        .push(&stack.registry, "demo/app:latest", "1", Behaviour::Serve);
    // No systemd in this sandbox: a stand-in systemctl records its arguments and does what
    // the compose unit would do (down; up -d unless stopping).
    let log = stack.work.path().join("systemctl.log");
    let compose_log = stack.work.path().join("compose.log");
    let script = format!(
        "#!/bin/sh\necho \"$@\" >> {log}\nfor last; do :; done\ncd {root}/${{last#*@}} || exit 1\npodman-compose down >> {clog} 2>&1\ncase \"$*\" in *stop*) exit 0;; esac\npodman-compose up -d >> {clog} 2>&1\n",
        log = log.display(),
        root = stack.root.display(),
        clog = compose_log.display()
    );
    stack.stand_in("systemctl", &script);
    let env = format!("SERVICE_APP_IMAGE_TAGGED={img}\n");
    stack.service("e4-sys", COMPOSE, &env, true);
    stack.service("e4-user", COMPOSE, &env, true);
    let run = stack.cipug(
        &[],
        &[
            ("CIPUG_STOP_START_METHOD", "systemd-system"),
            ("CIPUG_SERVICES_FILTER", "e4-sys"),
        ],
    );
    assert_eq!(
        run.code,
        0,
        "{}\n{}",
        run.stderr,
        fs::read_to_string(&compose_log).unwrap_or_default()
    );
    stack
        .cipug(
            &[
                "--stop-start-method",
                "systemd-user",
                "--services-filter",
                "e4-user",
                "--snapshot-when",
                "running",
            ],
            &[],
        )
        .expect_code(0);
    // Snapshot at rest (the default): the unit stops, then starts; snapshot while running:
    // one restart of the unit.
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "stop podman-compose@e4-sys\nstart podman-compose@e4-sys\n--user restart podman-compose@e4-user\n"
    );
    assert_eq!(
        stack.containers("e4-user").values().next().unwrap().0,
        "running"
    );
    // A failing systemctl is a restart error.
    stack.stand_in(
        "systemctl",
        "#!/bin/sh\necho 'unit not found' >&2; exit 5\n",
    );
    let d2 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Serve);
    let run = stack.cipug(
        &["--cache-duration", "0", "--services-filter", "e4-sys"],
        &[
            ("CIPUG_STOP_START_METHOD", "systemd-system"),
            ("CIPUG_AUTO_ROLLBACK", "no"),
            ("CIPUG_SNAPSHOT_WHEN", "running"),
        ],
    );
    run.expect_code(34);
    assert!(run.stderr.contains("unit not found"), "{}", run.stderr);
    assert!(fs::read_to_string(stack.root.join("e4-sys/.env"))
        .unwrap()
        .contains(&d2));
}

#[test]
fn check_snapshots_reads_snapper_and_btrbk() {
    let mut stack = Stack::new();
    let img = stack.image("demo/app");
    stack
        .images
        .push(&stack.registry, "demo/app:latest", "1", Behaviour::Serve);
    let fresh = stack.service(
        "e5-fresh",
        COMPOSE,
        &format!("SERVICE_APP_IMAGE_TAGGED={img}\n"),
        true,
    );
    stack.service(
        "e5-never",
        COMPOSE,
        "SERVICE_APP_IMAGE_TAGGED=unused\n",
        true,
    );
    stack
        .cipug(
            &[
                "--service-stop-start",
                "false",
                "--service-pull",
                "no",
                "--services-filter",
                "e5-fresh",
            ],
            &[],
        )
        .expect_code(0);
    // A minute old, so that a maximum age of 0 hours is exceeded whatever the second.
    let now = chrono::Local::now() - chrono::Duration::minutes(1);
    fs::create_dir_all(fresh.join("btrbk")).unwrap();
    fs::create_dir(fresh.join(format!("btrbk/e5-fresh.{}", now.format("%Y%m%dT%H%M")))).unwrap();
    fs::create_dir(fresh.join("btrbk/e5-fresh.20200101T0000")).unwrap();
    let env = [
        ("CIPUG_SNAPSHOTS_DIR_SNAPPER", ".snapshots"),
        ("CIPUG_SNAPSHOTS_DIR_BTRBK", "btrbk"),
    ];
    let run = stack.cipug(&["check-snapshots", "--services-filter", "e5-fresh"], &env);
    run.expect_code(0);
    assert!(
        run.stdout.contains("e5-fresh") && run.stdout.contains("ok"),
        "{}",
        run.stdout
    );
    let run = stack.cipug(
        &[
            "check-snapshots",
            "--services-filter",
            "e5-fresh",
            "--format",
            "json",
        ],
        &env,
    );
    run.expect_code(0);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let kinds: Vec<(&str, &str)> = json["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["kind"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("snapper", "ok"), ("btrbk", "ok")]);
    let btrbk_age = json["snapshots"][1]["age_hours"].as_f64().unwrap();
    assert!(
        (0.0..0.1).contains(&btrbk_age),
        "{btrbk_age}: the newest, not the 2020 one"
    );
    let run = stack.cipug(&["--check-snapshots"], &env);
    run.expect_code(40);
    assert!(run.stdout.contains("missing"), "{}", run.stdout);
    assert!(run.stderr.contains("e5-never (snapper)"), "{}", run.stderr);
    let run = stack.cipug(
        &[
            "check-snapshots",
            "--services-filter",
            "e5-fresh",
            "--snapshots-max-age-btrbk",
            "0",
        ],
        &env,
    );
    run.expect_code(40);
}

#[test]
fn pin_variables_in_cipugs_environment_do_not_change_what_compose_runs() {
    // podman-compose 1.6 lets the process environment win over `.env`: a stray
    // SERVICE_APP_IMAGE_HASHED (or REG, which the TAGGED value uses) in cipug's environment
    // would make it run another image than the pin.
    let venv = std::env::var("CIPUG_TEST_VENV").unwrap_or_else(|_| "/opt/cipug-test/venv".into());
    let compose_tool = format!("{venv}/bin/podman-compose");
    let mut stack = Stack::new();
    let pinned = stack
        .images
        .push(&stack.registry, "demo/envapp:latest", "1", Behaviour::Serve);
    let decoy = stack
        .images
        .push(&stack.registry, "demo/decoy:latest", "2", Behaviour::Serve);
    let app_img = stack.image("demo/envapp");
    let decoy_pin = format!("{}@{decoy}", stack.image("demo/decoy"));
    let dir = stack.service(
        "e-env",
        COMPOSE,
        &format!(
            "REG={}\nSERVICE_APP_IMAGE_TAGGED=${{REG}}/demo/envapp\n",
            stack.registry.addr
        ),
        true,
    );
    let run = stack.cipug(
        &["update"],
        &[
            ("CIPUG_COMPOSE_TOOL", &compose_tool),
            ("SERVICE_APP_IMAGE_HASHED", &decoy_pin),
            ("REG", "decoy.invalid:1"),
        ],
    );
    run.expect_code(0);
    let pin = format!("{app_img}@{pinned}");
    assert_eq!(
        hashed(&fs::read_to_string(dir.join(".env")).unwrap()),
        Some(pin.clone())
    );
    let containers = stack.containers("e-env");
    assert_eq!(containers.len(), 1, "{containers:?}");
    let (state, image) = containers.values().next().unwrap();
    assert_eq!((state.as_str(), image.as_str()), ("running", pin.as_str()));
    // One warning per variable, however many commands ran.
    for name in ["SERVICE_APP_IMAGE_HASHED", "REG"] {
        let warnings = run
            .stderr
            .lines()
            .filter(|l| l.contains(&format!("{name} is set in cipug's environment")))
            .count();
        assert_eq!(warnings, 1, "{name}:\n{}", run.stderr);
    }
}

/// A two-container project: `app` records its stop in `/data`, `db` must keep running.
const TWO: &str = "services:\n  app:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n    command: [\"/bin/sh\", \"-c\", \"trap 'echo $$VERSION > /data/stopped-$$VERSION; exit 0' TERM; while true; do sleep 1; done\"]\n    volumes:\n      - ./data:/data\n  db:\n    image: ${SERVICE_DB_IMAGE_HASHED}\n    volumes:\n      - ./data:/data\n";

/// The ID and start time of the one container of compose service `service` in `project`.
fn container_of(stack: &Stack, project: &str, service: &str) -> (String, String) {
    let out = support::sh_in(
        &stack.root,
        &stack.container_env(),
        "podman",
        &[
            "ps",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
            "--format",
            "{{.ID}} {{.StartedAt}}",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let (id, started) = text.split_once(' ').unwrap_or((&text, ""));
    (id.to_owned(), started.to_owned())
}

#[test]
fn pulls_first_and_recreates_only_what_changed() {
    let mut stack = Stack::new();
    let app = stack.image("demo/app");
    let db = stack.image("demo/db");
    let other = stack.image("demo/other");
    for repo in ["demo/app:latest", "demo/db:latest", "demo/other:latest"] {
        stack
            .images
            .push(&stack.registry, repo, "1", Behaviour::Serve);
    }
    let two = stack.service(
        "e6-two",
        TWO,
        &format!("SERVICE_APP_IMAGE_TAGGED={app}\nSERVICE_DB_IMAGE_TAGGED={db}\n"),
        true,
    );
    let broken = stack.service(
        "e6-pullfails",
        COMPOSE,
        &format!("# mine\nSERVICE_APP_IMAGE_TAGGED={other}\n"),
        true,
    );
    stack.cipug(&[], &[]).expect_code(0);
    let db_before = container_of(&stack, "e6-two", "db");
    let app_before = container_of(&stack, "e6-two", "app");
    let broken_before = stack.container_ids("e6-pullfails");
    let broken_env = fs::read(broken.join(".env")).unwrap();
    assert!(!db_before.0.is_empty() && !app_before.0.is_empty());
    assert_eq!(broken_before.len(), 1);

    // A new app image; a new image on other's tag that cannot be pulled.
    let app2 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Serve);
    let other2 = stack.images.push(
        &stack.registry,
        "demo/other:latest",
        "2-other",
        Behaviour::Serve,
    );
    stack.registry.break_pull(&other2);
    let run = stack.cipug(&["--cache-duration", "0"], &[]);
    run.expect_code(33);
    // The failed pull touched nothing: no snapshot, `.env` byte-identical, same container.
    assert!(run.stderr.contains(&other2), "{}", run.stderr);
    assert_eq!(stack.snapshots("e6-pullfails").len(), 1);
    assert_eq!(fs::read(broken.join(".env")).unwrap(), broken_env);
    assert_eq!(stack.container_ids("e6-pullfails"), broken_before);
    assert_eq!(
        stack.containers("e6-pullfails").values().next().unwrap().0,
        "running"
    );
    // Only app was recreated; db kept its container and start time.
    assert_eq!(container_of(&stack, "e6-two", "db"), db_before);
    let app_after = container_of(&stack, "e6-two", "app");
    assert_ne!(app_after.0, app_before.0, "app recreated: {}", run.stderr);
    assert!(fs::read_to_string(two.join(".env"))
        .unwrap()
        .contains(&app2));
    // The snapshot was taken after app stopped: it holds what app wrote when stopping.
    let snapshots = stack.snapshots("e6-two");
    let (number, _) = snapshots.last().unwrap();
    let snap = two.join(format!(".snapshots/{number}/snapshot"));
    assert!(snap.join("data/stopped-1").exists(), "snapshot at rest");
    assert!(!snap.join("data/started-2").exists());

    // The digest that did not pull is held back: no pull, no snapshot, exit 0.
    let run = stack.cipug(&["--cache-duration", "0"], &[]);
    run.expect_code(0);
    assert!(run.stderr.contains("held back"), "{}", run.stderr);
    assert_eq!(fs::read(broken.join(".env")).unwrap(), broken_env);
    let history = stack.cipug(&["history", "e6-pullfails", "--format", "json"], &[]);
    assert!(
        history.stdout.contains("\"pull failed\""),
        "{}",
        history.stdout
    );

    // The newest podman-compose recreates only app too.
    let app3 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "3", Behaviour::Serve);
    let newest = format!(
        "{}/bin/podman-compose",
        std::env::var("CIPUG_TEST_VENV").unwrap_or_else(|_| "/opt/cipug-test/venv".into())
    );
    let run = stack.cipug(
        &[
            "--cache-duration",
            "0",
            "--services-filter",
            "e6-two",
            "--compose-tool",
            &newest,
        ],
        &[],
    );
    run.expect_code(0);
    assert!(fs::read_to_string(two.join(".env"))
        .unwrap()
        .contains(&app3));
    assert_eq!(container_of(&stack, "e6-two", "db"), db_before);
    assert_ne!(container_of(&stack, "e6-two", "app").0, app_after.0);
}

#[test]
fn a_moved_index_with_the_same_image_writes_the_pin_without_a_restart() {
    let mut stack = Stack::new();
    let img = stack.image("demo/multi");
    let d1 = stack
        .images
        .push(&stack.registry, "demo/multi:latest", "1", Behaviour::Serve);
    let svc = stack.service(
        "e7-multi",
        COMPOSE,
        &format!("SERVICE_APP_IMAGE_TAGGED={img}\n"),
        true,
    );
    stack.cipug(&[], &[]).expect_code(0);
    let ids = stack.container_ids("e7-multi");
    assert_eq!(ids.len(), 1);
    // The tag now names a multi-arch index whose amd64 image is the one that runs.
    let index = stack.images.index_layout("1");
    let d2 = stack.images.copy(
        &index,
        &stack.registry.addr,
        "demo/multi:latest",
        &["--all", "--preserve-digests"],
    );
    assert_ne!(d1, d2);
    let run = stack.cipug(&["--cache-duration", "0"], &[]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("already run the new image"),
        "{}",
        run.stderr
    );
    assert!(fs::read_to_string(svc.join(".env"))
        .unwrap()
        .contains(&format!("{img}@{d2}")));
    assert_eq!(stack.container_ids("e7-multi"), ids, "not restarted");
}
