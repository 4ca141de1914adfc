//! Hardening: faults at every step and hostile input. Where a fault cannot be caused in the
//! real tool, stand-ins from `tests/fakes/` (compose tool, container tool, snapper,
//! systemctl) fail on purpose; the crash test kills real runs on the real stack; the
//! registry faults come from the fake registry in `support::fake`.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use support::fake::{self, FakeRegistry};
use support::{plain_services, run_cipug, Behaviour, Stack};

/// A services root driven by the stand-in tools.
struct Fakes {
    root: tempfile::TempDir,
    state: tempfile::TempDir,
    log: PathBuf,
}

impl Fakes {
    fn new(services: &[(&str, &str)]) -> Fakes {
        let state = tempfile::tempdir().unwrap();
        Fakes {
            root: plain_services(services),
            log: state.path().join("calls.log"),
            state,
        }
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> support::Run {
        let fakes = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes");
        let path = format!("{}:{}", fakes.display(), std::env::var("PATH").unwrap());
        let root = self.root.path().display().to_string();
        let state = self.state.path().display().to_string();
        let cipug_state = self.state.path().join("cipug").display().to_string();
        let log = self.log.display().to_string();
        let mut all = vec![
            ("PATH", path.as_str()),
            ("CIPUG_SERVICES_ROOT", root.as_str()),
            ("CIPUG_STATE_DIR", cipug_state.as_str()),
            ("CIPUG_CACHE_DURATION", "0"),
            ("CIPUG_PRUNE_IMAGES", "no"),
            ("CIPUG_HEALTH_SETTLE", "0"),
            ("FAKE_ROOT", root.as_str()),
            ("FAKE_STATE", state.as_str()),
            ("FAKE_LOG", log.as_str()),
        ];
        all.extend_from_slice(env);
        run_cipug(args, &all)
    }

    fn env(&self, service: &str) -> String {
        fs::read_to_string(self.root.path().join(service).join(".env")).unwrap()
    }

    fn mark(&self, service: &str, marker: &str) {
        fs::write(self.root.path().join(service).join(marker), "").unwrap();
    }
}

#[test]
fn each_failing_step_has_its_code_and_spares_the_others() {
    let registry = FakeRegistry::start();
    let env = format!(
        "# keep me\nSERVICE_APP_IMAGE_TAGGED={}/good:latest\n",
        registry.addr
    );
    let unpullable = format!(
        "# keep me\nSERVICE_APP_IMAGE_TAGGED={}/unpullable:latest\n",
        registry.addr
    );
    let hostile = "g-my svc;$(touch pwned)";
    let names = [
        "a-ok",
        "b-yaml",
        "c-snap",
        "d-pull",
        "e-up",
        "f-nosnapper",
        hostile,
    ];
    let services: Vec<(&str, &str)> = names
        .iter()
        .map(|n| {
            (
                *n,
                if *n == "d-pull" {
                    unpullable.as_str()
                } else {
                    env.as_str()
                },
            )
        })
        .collect();
    let fakes = Fakes::new(&services);
    fs::write(
        fakes.root.path().join("b-yaml/compose.yml"),
        "services: [\n",
    )
    .unwrap();
    fakes.mark("c-snap", ".fail-snapshot");
    fakes.mark("d-pull", ".fail-pull");
    fakes.mark("e-up", ".fail-up");
    fakes.mark("f-nosnapper", ".no-snapper");
    let insecure = [("CIPUG_INSECURE_REGISTRIES", registry.addr.as_str())];
    let run = fakes.run(&["update"], &insecure);
    assert_eq!(run.code, 255, "{}", run.stderr);
    let pinned = format!(
        "SERVICE_APP_IMAGE_HASHED={}/good@{}",
        registry.addr,
        fake::body_digest()
    );
    for updated in ["a-ok", hostile] {
        assert!(
            fakes.env(updated).contains(&pinned),
            "{updated}: {}",
            fakes.env(updated)
        );
    }
    for (name, words) in [
        ("b-yaml", "compose.yml"),
        ("c-snap", "creating snapshot failed on purpose"),
        ("f-nosnapper", "no snapper config"),
    ] {
        assert_eq!(fakes.env(name), env, "{name} untouched");
        assert!(
            run.stderr
                .lines()
                .any(|l| l.contains(name) && l.contains(words)),
            "{name}: {}",
            run.stderr
        );
    }
    // The pull fails before anything is touched: the `.env` stays as it was.
    assert_eq!(fakes.env("d-pull"), unpullable);
    assert!(
        run.stderr.contains("pull failed on purpose"),
        "{}",
        run.stderr
    );
    // `up` fails: rolled back to the snapshot (old .env), and `up` fails again: exit 34.
    assert_eq!(fakes.env("e-up"), env);
    assert!(
        run.stderr.contains("the rollback failed too"),
        "{}",
        run.stderr
    );
    // A rollback that cannot finish says what state the service is left in.
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains("e-up: files put back to snapshot")
                && l.contains("(the failed state is in snapshot")
                && l.contains("pins: APP=(unpinned)")
                && l.contains("but starting failed")
                && l.contains("no container of project e-up exists")),
        "{}",
        run.stderr
    );
    // The history records both snapshots of the update whose rollback failed.
    let history = fakes.run(&["history", "e-up", "--format", "json"], &[]);
    let events: serde_json::Value = serde_json::from_str(&history.stdout).unwrap();
    let failed = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["outcome"] == "failed")
        .unwrap_or_else(|| panic!("{}", history.stdout));
    assert!(
        failed["snapshot_before"].is_u64() && failed["snapshot_failed"].is_u64(),
        "{failed}"
    );
    let summary: Vec<&str> = run.stdout.lines().collect();
    for (name, outcome) in [
        ("a-ok", "updated"),
        ("b-yaml", "failed (30)"),
        ("c-snap", "failed (31)"),
        ("d-pull", "failed (33)"),
        ("e-up", "failed (34)"),
    ] {
        assert!(
            summary
                .iter()
                .any(|l| l.starts_with(name) && l.ends_with(outcome)),
            "{name} {outcome}: {}",
            run.stdout
        );
    }
    // Arguments are vectors: the hostile folder name reached the tools whole, and no shell ran it.
    let calls = fs::read_to_string(&fakes.log).unwrap();
    assert!(
        calls.contains(&format!(
            "compose\t{}\tup\t-d",
            fakes.root.path().join(hostile).display()
        )),
        "{calls}"
    );
    assert!(
        calls.contains(&format!("snapper\t-c\t{hostile}\tcreate")),
        "{calls}"
    );
    assert!(
        !fakes.root.path().join("pwned").exists()
            && !fakes.root.path().join(hostile).join("pwned").exists()
    );

    // The digest that did not pull is held back: no pull is tried, nothing changes.
    let run = fakes.run(&["update", "--services-filter", "d-pull"], &insecure);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("held back"), "{}", run.stderr);
    assert_eq!(fakes.env("d-pull"), unpullable);
    assert!(
        !fakes.state.path().join("running-d-pull").exists(),
        "not started"
    );
    // systemctl failing is a restart error, too.
    let run = fakes.run(
        &[
            "update",
            "--services-filter",
            "a-ok",
            "--stop-start-method",
            "systemd-system",
        ],
        &[
            ("CIPUG_INSECURE_REGISTRIES", &registry.addr),
            ("PATH", "/nonexistent"),
        ],
    );
    assert_eq!(run.code, 10, "no tools on PATH: {}", run.stderr);
}

/// Unmounts a bind mount when dropped.
struct BindMount(PathBuf);

impl Drop for BindMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn an_env_file_outside_the_snapshots_is_refused_and_the_others_go_on() {
    let registry = FakeRegistry::start();
    let env = format!("SERVICE_APP_IMAGE_TAGGED={}/good:latest\n", registry.addr);
    let fakes = Fakes::new(&[
        ("a-link", &env),
        ("b-ok", &env),
        ("c-mounted", &env),
        ("d-other-fs", &env),
    ]);
    // a-link's .env is a link to a file outside its folder, so outside its snapshots.
    let shared = fakes.state.path().join("shared.env");
    fs::write(&shared, &env).unwrap();
    let linked = fakes.root.path().join("a-link/.env");
    fs::remove_file(&linked).unwrap();
    std::os::unix::fs::symlink(&shared, &linked).unwrap();
    // c-mounted has a file mounted onto its .env (needs root; skipped without it).
    let mounted = fakes.root.path().join("c-mounted/.env");
    let other = fakes.state.path().join("other.env");
    fs::write(&other, &env).unwrap();
    let _mount = std::process::Command::new("mount")
        .arg("--bind")
        .args([&other, &mounted])
        .status()
        .is_ok_and(|s| s.success())
        .then(|| BindMount(mounted.clone()));
    // d-other-fs's .env is a link within its folder, to a file system mounted in it.
    let conf = fakes.root.path().join("d-other-fs/conf");
    fs::create_dir(&conf).unwrap();
    let _other_fs = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(&conf)
        .status()
        .is_ok_and(|s| s.success())
        .then(|| BindMount(conf.clone()));
    fs::write(conf.join("app.env"), &env).unwrap();
    let relinked = fakes.root.path().join("d-other-fs/.env");
    fs::remove_file(&relinked).unwrap();
    std::os::unix::fs::symlink("conf/app.env", &relinked).unwrap();
    let insecure = [("CIPUG_INSECURE_REGISTRIES", registry.addr.as_str())];

    let dry = fakes.run(&["update", "--dry-run"], &insecure);
    assert!(
        dry.stdout.contains("a-link: would be refused (32)"),
        "{}",
        dry.stdout
    );

    let run = fakes.run(&["update"], &insecure);
    assert_eq!(run.code, 32, "{}", run.stderr);
    let real = fs::canonicalize(&shared).unwrap();
    let folder = fakes.root.path().join("a-link");
    let why = format!(
        "{}/.env is a link to {}, outside the snapshots of {}: a rollback could not restore its pin; move the file into the folder",
        folder.display(),
        real.display(),
        folder.display()
    );
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains("a-link") && l.contains(&why)),
        "{}",
        run.stderr
    );
    assert_eq!(fs::read_to_string(&shared).unwrap(), env, "pin not written");
    let calls = fs::read_to_string(&fakes.log).unwrap();
    assert!(
        !calls.contains("-c\ta-link\tcreate"),
        "no snapshot: {calls}"
    );
    assert!(!calls.contains("a-link\tup"), "not restarted: {calls}");
    assert!(fakes.env("b-ok").contains("SERVICE_APP_IMAGE_HASHED="));
    assert!(calls.contains("snapper\t-c\tb-ok\tcreate"), "{calls}");
    if _mount.is_some() {
        assert_eq!(fs::read_to_string(&other).unwrap(), env, "pin not written");
        assert!(
            !calls.contains("-c\tc-mounted\tcreate"),
            "no snapshot: {calls}"
        );
        assert!(
            run.stderr
                .lines()
                .any(|l| l.contains("c-mounted/.env") && l.contains("is a mount point")),
            "{}",
            run.stderr
        );
    }
    if _other_fs.is_some() {
        assert!(
            !calls.contains("-c\td-other-fs\tcreate"),
            "no snapshot: {calls}"
        );
        assert!(
            run.stderr.lines().any(|l| l.contains("d-other-fs/.env")
                && l.contains("is on another file system or btrfs subvolume than")),
            "{}",
            run.stderr
        );
    }
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("a-link") && l.ends_with("failed (32)")),
        "{}",
        run.stdout
    );

    // `check` only reads: it still shows the linked service.
    let check = fakes.run(&["check"], &insecure);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(check.stdout.contains("a-link"), "{}", check.stdout);
    // `doctor` reports where the file lies.
    let doctor = fakes.run(&["doctor"], &insecure);
    assert!(
        doctor
            .stdout
            .lines()
            .any(|l| l.starts_with("FIX") && l.contains(&why)),
        "{}",
        doctor.stdout
    );
    // With snapshots off a rollback writes the pins into the file itself: the link is fine.
    let run = fakes.run(
        &["update", "--services-filter", "a-link"],
        &[insecure[0], ("CIPUG_SERVICE_SNAPSHOT", "no")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(fs::read_to_string(&shared)
        .unwrap()
        .contains("SERVICE_APP_IMAGE_HASHED="));
}

#[test]
fn a_held_back_digest_is_held_back_in_check_update_and_metrics_alike() {
    let registry = FakeRegistry::start();
    let env = format!("SERVICE_APP_IMAGE_TAGGED={}/good:latest\n", registry.addr);
    let unpullable = format!(
        "SERVICE_APP_IMAGE_TAGGED={}/unpullable:latest\n",
        registry.addr
    );
    let fakes = Fakes::new(&[("a-pull", &unpullable), ("b-roll", &env)]);
    let metrics = fakes.state.path().join("cipug.prom");
    let metrics_file = metrics.display().to_string();
    let settings = [
        ("CIPUG_INSECURE_REGISTRIES", registry.addr.as_str()),
        ("CIPUG_METRICS_FILE", metrics_file.as_str()),
    ];
    let run = fakes.run(&["update"], &settings);
    assert_eq!(run.code, 33, "{}", run.stderr);
    let status_of = |json: &serde_json::Value, service: &str| {
        json["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == service)
            .map(|s| s["images"][0]["status"].as_str().unwrap().to_owned())
            .unwrap()
    };
    // The digest that did not pull is held back, not outdated, and does not fail the check.
    let check = fakes.run(&["check", "--fail-outdated", "--format", "json"], &settings);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    let json: serde_json::Value = serde_json::from_str(&check.stdout).unwrap();
    assert_eq!(status_of(&json, "a-pull"), "held_back");
    assert_eq!(status_of(&json, "b-roll"), "current");
    let prom = fs::read_to_string(&metrics).unwrap();
    assert!(
        prom.contains(r#"cipug_entry_status{entry="APP",service="a-pull",status="held_back"} 1"#),
        "{prom}"
    );
    let check = fakes.run(&["check"], &settings);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(
        check
            .stdout
            .lines()
            .any(|l| l.starts_with("a-pull") && l.ends_with("held back")),
        "the word update uses: {}",
        check.stdout
    );

    // What a manual rollback left is held back too, and is no failure.
    let rollback = fakes.run(&["rollback", "b-roll"], &settings);
    assert_eq!(rollback.code, 0, "{}", rollback.stderr);
    let check = fakes.run(&["check", "--fail-outdated", "--format", "json"], &settings);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    let json: serde_json::Value = serde_json::from_str(&check.stdout).unwrap();
    assert_eq!(status_of(&json, "b-roll"), "held_back");
    let run = fakes.run(&["update"], &settings);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let line = |service: &str| {
        run.stderr
            .lines()
            .find(|l| l.contains(service) && l.contains("is held back"))
            .unwrap_or_else(|| panic!("{service}: {}", run.stderr))
            .to_owned()
    };
    assert!(line("a-pull").contains("failed before"), "{}", run.stderr);
    assert!(
        line("b-roll").contains("was rolled back with `cipug rollback`")
            && !line("b-roll").contains("failed before"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("b-roll") && l.ends_with("held back")),
        "{}",
        run.stdout
    );
    let prom = fs::read_to_string(&metrics).unwrap();
    assert!(
        prom.contains(r#"cipug_entry_status{entry="APP",service="b-roll",status="held_back"} 1"#),
        "{prom}"
    );
}

#[test]
fn deeply_nested_compose_files_are_refused_before_parsing() {
    let registry = FakeRegistry::start();
    let env = format!("SERVICE_APP_IMAGE_TAGGED={}/good:latest\n", registry.addr);
    let names = ["a-ok", "b-flow", "c-block"];
    let services: Vec<(&str, &str)> = names.iter().map(|n| (*n, env.as_str())).collect();
    let fakes = Fakes::new(&services);
    let image = "services:\n  app:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n    x:";
    // 80,000 levels deep: libyaml took 30 s over the flow form, holding the run lock.
    let deep = 80_000;
    for (name, compose) in [
        (
            "b-flow",
            format!("{image} {}{}\n", "[".repeat(deep), "]".repeat(deep)),
        ),
        (
            "c-block",
            format!("{image}\n      {}a\n", "- ".repeat(deep)),
        ),
    ] {
        fs::write(fakes.root.path().join(name).join("compose.yml"), compose).unwrap();
    }
    let refusal = |line: usize| {
        format!(
            "compose.yml: nested more than 100 levels deep (compose line {line}), more than a \
             compose file may have; not read"
        )
    };
    let insecure = [("CIPUG_INSECURE_REGISTRIES", registry.addr.as_str())];
    let run = fakes.run(&["update"], &insecure);
    assert_eq!(run.code, 30, "{}", run.stderr);
    for (name, line) in [("b-flow", 4), ("c-block", 5)] {
        assert!(
            run.stderr
                .lines()
                .any(|l| l.contains(name) && l.contains(&refusal(line))),
            "{name}: {}",
            run.stderr
        );
        assert_eq!(fakes.env(name), env, "{name} untouched");
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with(name) && l.ends_with("failed (30)")),
            "{name}: {}",
            run.stdout
        );
    }
    assert!(
        fakes.env("a-ok").contains("SERVICE_APP_IMAGE_HASHED="),
        "the others go on"
    );
    let doctor = fakes.run(&["doctor"], &insecure);
    assert!(
        doctor
            .stdout
            .lines()
            .any(|l| l.contains("b-flow") && l.contains(&refusal(4))),
        "{}",
        doctor.stdout
    );
    let folder = fakes.root.path().join("b-flow");
    let adopt = fakes.run(&["adopt", folder.to_str().unwrap(), "--dry-run"], &[]);
    assert_eq!(adopt.code, 25, "{}", adopt.stderr);
    assert!(adopt.stderr.contains(&refusal(4)), "{}", adopt.stderr);
}

#[test]
fn killed_at_every_step_the_next_run_finishes_the_job() {
    let mut stack = Stack::new();
    let img = stack.image("demo/app");
    stack
        .images
        .push(&stack.registry, "demo/app:latest", "1", Behaviour::Serve);
    let compose = support::COMPOSE;
    let points = cipug::base::failpoint::POINTS;
    let names: Vec<String> = points.iter().map(|p| format!("k-{p}")).collect();
    for name in &names {
        stack.service(
            name,
            compose,
            &format!("SERVICE_APP_IMAGE_TAGGED={img}\n"),
            true,
        );
    }
    stack.cipug(&[], &[]).expect_code(0);
    let d2 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Serve);
    let new_pin = format!("{img}@{d2}");
    for (point, name) in points.iter().zip(&names) {
        let dir = stack.root.join(name);
        let old_env = fs::read_to_string(dir.join(".env")).unwrap();
        let run = stack.cipug(
            &["--cache-duration", "0", "--services-filter", name],
            &[("CIPUG_FAILPOINT", point)],
        );
        assert_eq!(run.code, -1, "{point}: killed by SIGKILL\n{}", run.stderr);
        // The .env is the old or the new file, complete.
        let env = fs::read_to_string(dir.join(".env")).unwrap();
        let new_env = old_env
            .lines()
            .map(|l| {
                if l.starts_with("SERVICE_APP_IMAGE_HASHED=") {
                    format!("SERVICE_APP_IMAGE_HASHED={new_pin}\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect::<String>();
        assert!(env == old_env || env == new_env, "{point}: {env:?}");
        // The next run, with nothing armed, brings the service to the new pin, running.
        let run = stack.cipug(&["--cache-duration", "0", "--services-filter", name], &[]);
        run.expect_code(0);
        assert_eq!(
            fs::read_to_string(dir.join(".env")).unwrap(),
            new_env,
            "{point}"
        );
        let leftovers: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".cipug-"))
            .collect();
        assert!(leftovers.is_empty(), "{point}: {leftovers:?}");
        let containers = stack.containers(name);
        assert_eq!(
            containers.values().next(),
            Some(&("running".to_owned(), new_pin.clone())),
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
    }
}

#[test]
fn a_full_file_system_keeps_the_old_env() {
    let registry = FakeRegistry::start();
    let work = tempfile::tempdir().unwrap();
    let image = work.path().join("small.img");
    let mount = work.path().join("root");
    fs::create_dir(&mount).unwrap();
    support::sh("truncate", &["-s", "2M", image.to_str().unwrap()]);
    support::sh(
        "mkfs.ext4",
        &["-q", "-F", "-m", "0", image.to_str().unwrap()],
    );
    support::sh(
        "mount",
        &[
            "-o",
            "loop",
            image.to_str().unwrap(),
            mount.to_str().unwrap(),
        ],
    );
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount.clone());
    let svc = mount.join("svc");
    fs::create_dir(&svc).unwrap();
    fs::write(svc.join("compose.yml"), "services: {}\n").unwrap();
    let env = format!("# a long comment to make the new file need a block\nSERVICE_APP_IMAGE_TAGGED={}/good:latest\n", registry.addr);
    fs::write(svc.join(".env"), &env).unwrap();
    // Fill the file system to the last block.
    let _ = std::process::Command::new("dd")
        .args([
            "if=/dev/zero",
            &format!("of={}", mount.join("filler").display()),
            "bs=1k",
        ])
        .stderr(std::process::Stdio::null())
        .status();
    let state = work.path().join("state").display().to_string();
    let run = run_cipug(
        &[
            "update",
            "--service-snapshot",
            "no",
            "--service-stop-start",
            "no",
            "--service-pull",
            "no",
            "--prune-images",
            "no",
        ],
        &[
            ("CIPUG_SERVICES_ROOT", mount.to_str().unwrap()),
            ("CIPUG_INSECURE_REGISTRIES", &registry.addr),
            ("CIPUG_STATE_DIR", &state),
            ("CIPUG_CACHE_DURATION", "0"),
        ],
    );
    assert_eq!(run.code, 32, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("{}: could not write", svc.join(".env").display())),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("No space left"), "{}", run.stderr);
    assert_eq!(fs::read_to_string(svc.join(".env")).unwrap(), env);
    let names: Vec<String> = fs::read_dir(&svc)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
}

fn update_only_pins(
    root: &Path,
    registry: &str,
    state: &Path,
    extra: &[(&str, &str)],
) -> support::Run {
    let state = state.display().to_string();
    let mut env = vec![
        ("CIPUG_SERVICES_ROOT", root.to_str().unwrap()),
        ("CIPUG_INSECURE_REGISTRIES", registry),
        ("CIPUG_STATE_DIR", state.as_str()),
    ];
    env.extend_from_slice(extra);
    run_cipug(
        &[
            "update",
            "--service-snapshot",
            "no",
            "--service-stop-start",
            "no",
            "--service-pull",
            "no",
            "--prune-images",
            "no",
        ],
        &env,
    )
}

#[test]
fn hostile_env_files_are_refused_or_kept_intact() {
    let registry = FakeRegistry::start();
    let a = &registry.addr;
    let tagged = format!("SERVICE_APP_IMAGE_TAGGED={a}/good:latest");
    let pin = format!("SERVICE_APP_IMAGE_HASHED={a}/good@{}", fake::body_digest());
    let bad: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "bad-nul",
            format!("A=1\n{tagged}\0\n").into_bytes(),
            "line 2: NUL byte",
        ),
        (
            "bad-utf8",
            [b"A=1\nB=\xff\n".as_slice(), tagged.as_bytes()].concat(),
            "line 2: invalid UTF-8",
        ),
        (
            "bad-quote",
            format!("{tagged}\nB='open\n").into_bytes(),
            "line 2: unterminated single quote",
        ),
        (
            "bad-line",
            format!("{tagged}\nthis is not an entry\n").into_bytes(),
            "line 2: expected `=`",
        ),
        (
            "bad-dup",
            format!("{tagged}\n{tagged}\n").into_bytes(),
            "line 2: SERVICE_APP_IMAGE_TAGGED is set twice",
        ),
        (
            "bad-space",
            format!("SERVICE_APP_IMAGE_TAGGED=\"{a}/good:latest extra\"\n").into_bytes(),
            "line 1:",
        ),
        (
            "bad-inject",
            format!("SERVICE_APP_IMAGE_TAGGED=\"{a}/good:latest\\nEVIL=1\"\n").into_bytes(),
            "not an image reference",
        ),
        (
            "bad-hash",
            format!("SERVICE_APP_IMAGE_TAGGED=\"{a}/good:latest#x\"\n").into_bytes(),
            "not an image reference",
        ),
        (
            "bad-huge",
            format!("{tagged}\n# {}\n", "x".repeat(2 << 20)).into_bytes(),
            "limit",
        ),
    ];
    let good: Vec<(&str, Vec<u8>)> = vec![
        (
            "ok-bom-crlf",
            format!("\u{feff}# c\r\n{tagged}\r\n").into_bytes(),
        ),
        ("ok-readonly", format!("{tagged}\n").into_bytes()),
        ("ok-owner", format!("{tagged}\n").into_bytes()),
        ("ok-link", Vec::new()),
    ];
    let root = tempfile::tempdir().unwrap();
    for (name, bytes) in bad
        .iter()
        .map(|(n, b, _)| (n, b))
        .chain(good.iter().map(|(n, b)| (n, b)))
    {
        let dir = root.path().join(name);
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("compose.yml"), "services: {}\n").unwrap();
        if *name != "ok-link" {
            fs::write(dir.join(".env"), bytes).unwrap();
        }
    }
    let ro = root.path().join("ok-readonly/.env");
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o400)).unwrap();
    let owned = root.path().join("ok-owner/.env");
    std::os::unix::fs::chown(&owned, Some(1234), Some(2345)).unwrap();
    fs::set_permissions(&owned, fs::Permissions::from_mode(0o640)).unwrap();
    let target = root.path().join("shared.env");
    fs::write(&target, format!("{tagged}\n")).unwrap();
    std::os::unix::fs::symlink("../shared.env", root.path().join("ok-link/.env")).unwrap();

    let state = tempfile::tempdir().unwrap();
    // The .env of another owner is trusted only when named (see tests/root_trust.rs).
    let run = update_only_pins(
        root.path(),
        a,
        state.path(),
        &[
            ("CIPUG_CACHE_DURATION", "0"),
            ("CIPUG_TRUSTED_OWNERS", "1234"),
        ],
    );
    assert_eq!(run.code, 32, "{}", run.stderr);
    for (name, bytes, words) in &bad {
        let path = root.path().join(name).join(".env");
        assert_eq!(&fs::read(&path).unwrap(), bytes, "{name} untouched");
        let line = run
            .stderr
            .lines()
            .find(|l| l.contains(&format!("{}:", path.display())))
            .unwrap_or_else(|| panic!("no error naming {}: {}", path.display(), run.stderr));
        assert!(line.contains(words), "{name}: {line}");
    }
    assert_eq!(
        fs::read_to_string(root.path().join("ok-bom-crlf/.env")).unwrap(),
        format!("\u{feff}# c\r\n{tagged}\r\n{pin}\r\n")
    );
    assert!(fs::read_to_string(&ro).unwrap().contains(&pin));
    assert_eq!(
        fs::metadata(&ro).unwrap().mode() & 0o777,
        0o400,
        "mode kept"
    );
    let meta = fs::metadata(&owned).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o777),
        (1234, 2345, 0o640),
        "owner and mode kept"
    );
    assert!(
        fs::symlink_metadata(root.path().join("ok-link/.env"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "link kept"
    );
    assert!(
        fs::read_to_string(&target).unwrap().contains(&pin),
        "written through the link"
    );
}

#[test]
fn untrusted_caches_are_never_believed() {
    let registry = FakeRegistry::start();
    let a = &registry.addr;
    let image = format!("{a}/good:latest");
    let planted = format!("{a}/good@sha256:{}", "6".repeat(64));
    // Pinned to what the cache says: a cache may confirm a pin (it never moves one).
    let root = plain_services(&[(
        "svc",
        &format!("SERVICE_APP_IMAGE_TAGGED={image}\nSERVICE_APP_IMAGE_HASHED={planted}\n"),
    )]);
    let real = format!("{a}/good@{}", fake::body_digest());
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache.json");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let plant = |cache: &Path| {
        fs::write(
            cache,
            format!(r#"{{"{image}": {{"time": {now}, "result": "{planted}"}}}}"#),
        )
        .unwrap();
        fs::set_permissions(cache, fs::Permissions::from_mode(0o600)).unwrap();
    };
    let check = |location: &Path| {
        let run = run_cipug(
            &["check", "--format", "json"],
            &[
                ("CIPUG_SERVICES_ROOT", root.path().to_str().unwrap()),
                ("CIPUG_INSECURE_REGISTRIES", a),
                ("CIPUG_CACHE_LOCATION", location.to_str().unwrap()),
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        (
            json["services"][0]["images"][0]["latest"]
                .as_str()
                .unwrap()
                .to_owned(),
            run.stderr,
        )
    };
    // Sanity: a trusted cache is used to confirm the pin (that is what makes planting
    // dangerous).
    plant(&cache);
    assert_eq!(check(&cache).0, planted);
    // Owned by another user.
    plant(&cache);
    std::os::unix::fs::chown(&cache, Some(65534), None).unwrap();
    let (latest, stderr) = check(&cache);
    assert_eq!(latest, real, "{stderr}");
    assert!(stderr.contains("owned by user 65534"), "{stderr}");
    // Writable by others.
    let open = work.path().join("open.json");
    plant(&open);
    fs::set_permissions(&open, fs::Permissions::from_mode(0o666)).unwrap();
    let (latest, stderr) = check(&open);
    assert_eq!(latest, real);
    assert!(stderr.contains("writable by other users"), "{stderr}");
    // A symlink to a planted file.
    let target = work.path().join("target.json");
    plant(&target);
    let link = work.path().join("link.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let (latest, stderr) = check(&link);
    assert_eq!(latest, real);
    assert!(stderr.contains("symlink"), "{stderr}");
    // Truncated: warned and rebuilt.
    let truncated = work.path().join("truncated.json");
    fs::write(&truncated, "{\"x\": {\"ti").unwrap();
    fs::set_permissions(&truncated, fs::Permissions::from_mode(0o600)).unwrap();
    let (latest, stderr) = check(&truncated);
    assert_eq!(latest, real);
    assert!(stderr.contains("corrupt cache"), "{stderr}");
    let rebuilt: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&truncated).unwrap()).unwrap();
    assert_eq!(rebuilt[&image]["result"], real);
}

#[test]
fn credentials_go_only_to_the_registry_they_belong_to() {
    // A token service on another host (127.0.0.2) named by the registry's challenge.
    let listener = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    let realm_host = listener.local_addr().unwrap().to_string();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Write};
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut line, mut auth) = (String::new(), None);
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                if line.to_ascii_lowercase().starts_with("authorization:") {
                    auth = Some(line.trim().to_owned());
                }
                line.clear();
            }
            record.lock().unwrap().push(auth);
            let body = r#"{"token": "opaque-token", "expires_in": 60}"#;
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let registry = FakeRegistry::start_with_challenge(Some(format!(
        r#"Bearer realm="http://{realm_host}/token",service="fake""#
    )));
    let a = &registry.addr;
    let root = plain_services(&[(
        "svc",
        &format!("SERVICE_APP_IMAGE_TAGGED={a}/good:latest\n"),
    )]);
    let files = tempfile::tempdir().unwrap();
    let auth = |hosts: &[&str]| {
        let auths: serde_json::Map<String, serde_json::Value> = hosts
            .iter()
            .map(|h| {
                (
                    h.to_string(),
                    serde_json::json!({"auth": "dXNlcjpzZWNyZXQ="}),
                )
            })
            .collect();
        let path = files.path().join(format!("auth-{}.json", hosts.len()));
        fs::write(&path, serde_json::json!({ "auths": auths }).to_string()).unwrap();
        path.display().to_string()
    };
    let run_with = |auth_file: &str| {
        run_cipug(
            &["check", "--format", "json"],
            &[
                ("CIPUG_SERVICES_ROOT", root.path().to_str().unwrap()),
                ("CIPUG_INSECURE_REGISTRIES", a),
                ("CIPUG_CACHE_DURATION", "0"),
                ("REGISTRY_AUTH_FILE", auth_file),
            ],
        )
    };
    let only_registry = auth(&[a]);
    let run = run_with(&only_registry);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(&fake::body_digest()));
    assert_eq!(
        seen.lock().unwrap().clone(),
        vec![None],
        "the registry's credentials stay with the registry"
    );
    let both = auth(&[a, &realm_host]);
    let run = run_with(&both);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let last = seen
        .lock()
        .unwrap()
        .last()
        .unwrap()
        .clone()
        .unwrap_or_default();
    assert_eq!(
        last.to_ascii_lowercase(),
        "authorization: basic dxnlcjpzzwnyzxq=",
        "its own credentials"
    );
    assert!(!run.stderr.contains("dXNlcjpzZWNyZXQ") && !run.stderr.contains("secret"));
}

#[test]
fn unreachable_and_garbled_registries_pin_nothing() {
    let registry = FakeRegistry::start();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let root = plain_services(&[
        (
            "refused",
            &format!("SERVICE_APP_IMAGE_TAGGED={closed}/app:latest\n"),
        ),
        (
            "ctrl",
            &format!(
                "SERVICE_APP_IMAGE_TAGGED={}/ctrlheader:latest\n",
                registry.addr
            ),
        ),
    ]);
    let state = tempfile::tempdir().unwrap();
    let insecure = format!("{closed},{}", registry.addr);
    let run = update_only_pins(
        root.path(),
        &insecure,
        state.path(),
        &[("CIPUG_CACHE_DURATION", "0")],
    );
    assert_eq!(run.code, 30, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("registry {closed} could not be reached")),
        "{}",
        run.stderr
    );
    for name in ["refused", "ctrl"] {
        assert!(
            !fs::read_to_string(root.path().join(name).join(".env"))
                .unwrap()
                .contains("HASHED"),
            "{name}"
        );
    }
}

#[test]
fn a_hung_tool_is_stopped_with_everything_it_started() {
    let registry = FakeRegistry::start();
    // The stand-in container tool hangs pulling a `hangs` repository.
    let env = format!("SERVICE_APP_IMAGE_TAGGED={}/hangs:latest\n", registry.addr);
    let fakes = Fakes::new(&[("hung", env.as_str())]);
    let started = std::time::Instant::now();
    let run = fakes.run(
        &["update"],
        &[
            ("CIPUG_INSECURE_REGISTRIES", registry.addr.as_str()),
            ("CIPUG_PULL_TIMEOUT", "1"),
        ],
    );
    let took = started.elapsed();
    assert_eq!(run.code, 33, "{}", run.stderr);
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
    assert!(
        run.stderr
            .contains("did not finish within 1 s (PULL_TIMEOUT); stopped it"),
        "{}",
        run.stderr
    );
    // The hung tool's own child was killed with it.
    let pid = fs::read_to_string(fakes.state.path().join("hang-pull")).unwrap();
    let stat = format!("/proc/{}/stat", pid.trim());
    for _ in 0..100 {
        let state = fs::read_to_string(&stat).unwrap_or_default();
        if state.is_empty() || state.contains(") Z") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("the hung tool's child {} still runs", pid.trim());
}

#[test]
fn ctrl_c_stops_the_run_and_the_command_it_runs() {
    use std::os::unix::process::ExitStatusExt;
    let registry = FakeRegistry::start();
    // The stand-in container tool hangs pulling a `hangs` repository.
    let env = format!("SERVICE_APP_IMAGE_TAGGED={}/hangs:latest\n", registry.addr);
    let fakes = Fakes::new(&[("hung", env.as_str())]);
    let fake_tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cipug"))
        .arg("update")
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:{}",
                fake_tools.display(),
                std::env::var("PATH").unwrap()
            ),
        )
        .env("HOME", "/nonexistent-home")
        .env("CIPUG_SERVICES_ROOT", fakes.root.path())
        .env("CIPUG_STATE_DIR", fakes.state.path().join("cipug"))
        .env("CIPUG_CACHE_DURATION", "0")
        .env("CIPUG_PRUNE_IMAGES", "no")
        .env("CIPUG_INSECURE_REGISTRIES", &registry.addr)
        .env("FAKE_ROOT", fakes.root.path())
        .env("FAKE_STATE", fakes.state.path())
        .env("FAKE_LOG", &fakes.log)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid_file = fakes.state.path().join("hang-pull");
    support::wait_for("the pull to hang", 20, || {
        fs::read_to_string(&pid_file).is_ok_and(|p| !p.trim().is_empty())
    });
    let started = std::time::Instant::now();
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(status.signal(), Some(2), "ended by SIGINT: {status}");
    let pid = fs::read_to_string(&pid_file).unwrap();
    let stat = format!("/proc/{}/stat", pid.trim());
    for _ in 0..100 {
        let state = fs::read_to_string(&stat).unwrap_or_default();
        if state.is_empty() || state.contains(") Z") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("the pull's child {} still runs", pid.trim());
}
