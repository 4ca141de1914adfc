//! What a new user meets in the first hour: help that lists only what a subcommand reads,
//! `doctor` on a compose tool that does not run, `check` showing the tag, `check-snapshots`
//! with nothing configured, completions of service names and setting values, and a rolled
//! back update told as such, with notifications for held-back digests and registry errors.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;

use support::{plain_services, run_cipug, Behaviour, Deployed, Stack, COMPOSE};

#[test]
fn help_lists_only_the_settings_a_subcommand_reads() {
    let help = |sub: &str| {
        let run = run_cipug(&[sub, "--help"], &[]);
        run.expect_code(0);
        run.stdout
    };
    let history = help("history");
    assert!(history.contains("--state-dir"), "{history}");
    assert!(!history.contains("--service-pull"), "{history}");
    assert!(!history.contains("--registry-timeout"), "{history}");
    let snapshots = help("check-snapshots");
    assert!(snapshots.contains("--snapshots-dir-snapper"), "{snapshots}");
    assert!(!snapshots.contains("--health-timeout"), "{snapshots}");
    let update = help("update");
    assert!(update.contains("--service-pull") && update.contains("--health-timeout"));
    assert!(!update.contains("--snapshots-dir-btrbk"), "{update}");
    assert!(!help("man").contains("--services-root"));
    // A hidden flag is still taken (scripts that pass every setting keep working).
    let run = run_cipug(
        &["history", "--resolve-jobs", "0"],
        &[("CIPUG_SERVICES_ROOT", "/")],
    );
    run.expect_code(25);
    assert!(
        run.stderr.contains("RESOLVE_JOBS must be 1 to 256"),
        "{}",
        run.stderr
    );
    // Boolean and choice settings show their values.
    assert!(update.contains("[possible values: compose, systemd-system, systemd-user]"));
}

#[test]
fn check_snapshots_with_no_folders_configured_says_nothing_was_checked() {
    let root = plain_services(&[("a", "")]);
    let root = root.path().to_str().unwrap();
    let run = run_cipug(&["check-snapshots"], &[("CIPUG_SERVICES_ROOT", root)]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("no snapshot folders configured")
            && run.stderr.contains("nothing was checked"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("All required snapshots"),
        "{}",
        run.stderr
    );
}

#[test]
fn doctor_says_ok_for_the_compose_tool_only_when_it_runs() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().to_str().unwrap();
    let base = [
        ("CIPUG_SERVICES_ROOT", root),
        ("CIPUG_SERVICE_SNAPSHOT", "false"),
    ];
    let run = run_cipug(&["doctor"], &base);
    assert!(
        run.stdout
            .contains("ok    tool podman-compose: podman-compose"),
        "{}",
        run.stdout
    );
    // `podman` is installed, its subcommand is not: as `docker` without the compose plugin.
    let mut env = base.to_vec();
    env.push(("CIPUG_COMPOSE_TOOL", "podman no-such-compose"));
    let run = run_cipug(&["doctor"], &env);
    run.expect_code(12);
    assert!(
        run.stdout.contains(
            "FIX   tool podman no-such-compose does not work: `podman no-such-compose version`"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn doctor_names_the_fix_for_a_plain_http_registry_not_listed_as_insecure() {
    let registry = support::Registry::start("");
    let addr = registry.addr.as_str();
    let root = plain_services(&[(
        "a",
        &format!("SERVICE_APP_IMAGE_TAGGED={addr}/demo/app:1.2\n"),
    )]);
    let conf = tempfile::NamedTempFile::new().unwrap();
    let env = [
        ("CIPUG_SERVICES_ROOT", root.path().to_str().unwrap()),
        ("CIPUG_SERVICE_SNAPSHOT", "false"),
        ("CONTAINERS_REGISTRIES_CONF", conf.path().to_str().unwrap()),
    ];
    let run = run_cipug(&["doctor"], &env);
    run.expect_code(12);
    let line = |run: &support::Run| {
        run.stdout
            .lines()
            .find(|l| l.starts_with("FIX") && l.contains(&format!("{addr}/demo/app:1.2")))
            .unwrap_or_else(|| panic!("{}", run.stdout))
            .to_owned()
    };
    let plain = line(&run);
    assert!(
        plain.contains("plain HTTP")
            && plain.contains(&format!("add {addr} to INSECURE_REGISTRIES"))
            && plain.contains("insecure = true"),
        "{plain}"
    );
    // Listed as insecure, it is reached; the tag it lacks names its own fix.
    let listed = [&env[..], &[("CIPUG_INSECURE_REGISTRIES", addr)]].concat();
    let run = run_cipug(&["doctor"], &listed);
    run.expect_code(12);
    let missing = line(&run);
    assert!(
        missing.contains("404") && missing.contains("check the repository and tag"),
        "{missing}"
    );
}

#[test]
fn check_shows_the_tag_of_each_entry() {
    let root = plain_services(&[("a", "SERVICE_APP_IMAGE_TAGGED=127.0.0.1:9/demo/app:1.2\n")]);
    let run = run_cipug(
        &["check"],
        &[
            ("CIPUG_SERVICES_ROOT", root.path().to_str().unwrap()),
            ("CIPUG_INSECURE_REGISTRIES", "127.0.0.1:9"),
        ],
    );
    run.expect_code(30);
    let header = run.stdout.lines().next().unwrap();
    assert!(header.contains("TAG"), "{}", run.stdout);
    assert!(
        run.stdout.contains("127.0.0.1:9/demo/app:1.2"),
        "{}",
        run.stdout
    );
}

/// Asks bash's completion function what it offers after `words`, called as bash calls it
/// (command, current word, previous word).
fn complete_bash(words: &[&str], root: &Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("cipug.bash");
    let out = Command::new(env!("CARGO_BIN_EXE_cipug"))
        .args(["completions", "bash"])
        .output()
        .unwrap();
    fs::write(&script, out.stdout).unwrap();
    let words: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source {}; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; _cipug_with_services cipug \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; echo \"${{COMPREPLY[*]}}\"",
        script.display(),
        words.join(" "),
        words.len() - 1
    );
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_cipug")).parent().unwrap();
    let out = Command::new("bash")
        .args(["-c", &program])
        .env(
            "PATH",
            format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap()),
        )
        .env("CIPUG_SERVICES_ROOT", root)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn completions_offer_service_names_and_setting_values() {
    let root = plain_services(&[("nextcloud", ""), ("paperless", "")]);
    assert_eq!(
        complete_bash(&["cipug", "rollback", ""], root.path()),
        "nextcloud paperless"
    );
    assert_eq!(
        complete_bash(&["cipug", "history", "pa"], root.path()),
        "paperless"
    );
    let values = complete_bash(&["cipug", "--stop-start-method", ""], root.path());
    assert!(values.contains("systemd-user"), "{values}");
    let values = complete_bash(&["cipug", "update", "--service-pull", ""], root.path());
    assert!(
        values.contains("true") && values.contains("false"),
        "{values}"
    );
    let fish = run_cipug(&["completions", "fish"], &[]);
    assert!(fish.stdout.contains("__cipug_services"), "{}", fish.stdout);
}

#[test]
fn a_rollback_is_told_as_such_and_held_back_digests_and_registry_errors_notify() {
    let mut stack = Stack::new();
    let recorded = stack.work.path().join("notified.txt");
    let notify = format!(
        "sh -c 'echo \"$CIPUG_NOTIFY_SERVICE|$CIPUG_NOTIFY_OUTCOME|$CIPUG_NOTIFY_MESSAGE\" >> {}'",
        recorded.display()
    );
    let env = [
        ("CIPUG_NOTIFY_COMMAND", notify.as_str()),
        ("CIPUG_CACHE_DURATION", "0"),
        ("CIPUG_HEALTH_TIMEOUT", "5"),
    ];
    let Deployed { img: _, d1: _, svc } = stack.deployed("f1-web", COMPOSE, &env);
    stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Crash);
    let run = stack.cipug(&[], &env);
    run.expect_code(34);
    assert!(
        run.stderr.contains("warning: rolled back f1-web to"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("error: rolled back"), "{}", run.stderr);
    assert!(!run.stderr.contains("f1-web: f1-web:"), "{}", run.stderr);

    // The next run holds the digest back and says so by notification, once.
    stack.cipug(&[], &env).expect_code(0);
    stack.cipug(&[], &env).expect_code(0);
    let notes = fs::read_to_string(&recorded).unwrap();
    assert_eq!(notes.matches("f1-web|held back|").count(), 1, "{notes}");

    // A registry that does not answer is an error worth a notification too.
    fs::write(
        svc.join(".env"),
        "SERVICE_APP_IMAGE_TAGGED=127.0.0.1:9/demo/app:latest\n",
    )
    .unwrap();
    let mut env = env.to_vec();
    env.push(("CIPUG_INSECURE_REGISTRIES", "127.0.0.1:9"));
    stack.cipug(&[], &env).expect_code(30);
    let notes = fs::read_to_string(&recorded).unwrap();
    assert!(
        notes
            .lines()
            .any(|l| l.starts_with("f1-web|failed|127.0.0.1:9/demo/app:latest")),
        "{notes}"
    );
}

#[test]
fn compose_files_by_any_default_name_adopted_without_a_services_root_and_updated() {
    let mut stack = Stack::new();
    let img = stack.image("demo/app");
    let d1 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "1", Behaviour::Serve);
    // One service with the old name, one with the preferred name and a Renovate-style
    // reference (tag and digest).
    let old = stack.service("f2-old", "", "", true);
    fs::remove_file(old.join("compose.yml")).unwrap();
    let old_compose =
        format!("services:\n  app:\n    image: {img}:latest\n    volumes:\n      - ./data:/data\n");
    fs::write(old.join("docker-compose.yml"), &old_compose).unwrap();
    let new = stack.service("f2-new", "", "", true);
    fs::remove_file(new.join("compose.yml")).unwrap();
    fs::write(
        new.join("compose.yaml"),
        format!("services:\n  app:\n    image: \"{img}:latest@{d1}\"\n    volumes:\n      - ./data:/data\n"),
    )
    .unwrap();

    // adopt by path, with no SERVICES_ROOT anywhere.
    let adopt = |dir: &Path| {
        let out = stack
            .cipug_command(&["adopt", dir.to_str().unwrap()], &[])
            .env_remove("CIPUG_SERVICES_ROOT")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
        stdout
    };
    adopt(&old);
    assert_eq!(
        fs::read_to_string(old.join("docker-compose.yml")).unwrap(),
        old_compose.replace(&format!("{img}:latest"), "${SERVICE_APP_IMAGE_HASHED}")
    );
    assert_eq!(
        fs::read_to_string(old.join(".env")).unwrap(),
        format!("SERVICE_APP_IMAGE_TAGGED={img}:latest\n")
    );
    // Twice is fine.
    let again = adopt(&old);
    assert!(again.contains("already adopted"), "{again}");
    adopt(&new);
    assert_eq!(
        fs::read_to_string(new.join(".env")).unwrap(),
        format!("SERVICE_APP_IMAGE_TAGGED={img}:latest\nSERVICE_APP_IMAGE_HASHED={img}@{d1}\n")
    );
    assert!(fs::read_to_string(new.join("compose.yaml"))
        .unwrap()
        .contains("image: \"${SERVICE_APP_IMAGE_HASHED}\""));

    // The Renovate digest is the current pin: check calls it current, not unpinned.
    let run = stack.cipug(&["check", "--format", "json"], &[]);
    run.expect_code(0);
    let check: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let status = |name: &str| {
        check["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| s["images"][0]["status"].as_str().unwrap().to_owned())
    };
    assert_eq!(status("f2-new").as_deref(), Some("current"), "{check}");
    assert_eq!(status("f2-old").as_deref(), Some("unpinned"), "{check}");

    // A new digest: both services update, each restarted with its own compose file.
    let d2 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Serve);
    let run = stack.cipug(&["update", "--cache-duration", "0", "-vvv"], &[]);
    run.expect_code(0);
    assert!(
        !run.stderr.contains(" -f "),
        "no -f when the tool finds the file: {}",
        run.stderr
    );
    for (name, dir) in [("f2-old", &old), ("f2-new", &new)] {
        let containers = stack.containers(name);
        assert_eq!(containers.len(), 1, "{name}: {containers:?}");
        let (state, image) = containers.into_values().next().unwrap();
        assert_eq!(
            (state.as_str(), image),
            ("running", format!("{img}@{d2}")),
            "{name}"
        );
        support::wait_for("v2 to start", 10, || dir.join("data/started-2").exists());
    }
}

#[test]
fn adopt_subvolume_turns_a_folder_with_data_into_a_snapshotted_service() {
    let mut stack = Stack::new();
    let img = stack.image("demo/app");
    let d1 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "1", Behaviour::Serve);
    // An ordinary folder (not a subvolume) on the btrfs, with data, running.
    let name = format!("f3-{}", stack.id);
    let dir = stack.root.join(&name);
    stack.track(&dir, &name);
    fs::create_dir_all(dir.join("data/db")).unwrap();
    fs::write(dir.join("compose.yml"), COMPOSE).unwrap();
    fs::write(
        dir.join(".env"),
        format!("SERVICE_APP_IMAGE_TAGGED={img}\n"),
    )
    .unwrap();
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(dir.join("data/db/table.bin"), &big).unwrap();
    fs::write(dir.join("data/keep.txt"), "precious\n").unwrap();
    let filter = ["--services-filter", name.as_str()];
    let no_snapshots = [filter[0], filter[1], "--service-snapshot", "false"];
    stack.cipug(&no_snapshots, &[]).expect_code(0);
    support::wait_for("v1 to start", 10, || dir.join("data/started-1").exists());
    let inode = || {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(&dir).unwrap().ino()
    };
    assert_ne!(inode(), 256, "not a subvolume yet");

    // Dry run first: the steps, nothing changed.
    let run = stack.cipug(
        &["adopt", "--subvolume", "--dry-run", dir.to_str().unwrap()],
        &[],
    );
    run.expect_code(0);
    let steps: Vec<&str> = run.stdout.lines().map(str::trim).collect();
    let find = |what: &str| steps.iter().position(|l| l.starts_with(what));
    let order = [
        find("podman-compose down"),
        find("btrfs subvolume create"),
        find("cp -a '--reflink=always'"),
        find(&format!("mv {}", dir.display())),
        find(&format!("snapper -c {name} create-config")),
        find("podman-compose up -d"),
    ];
    assert!(order.iter().all(Option::is_some), "{}", run.stdout);
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{}", run.stdout);
    assert_ne!(inode(), 256);
    assert_eq!(stack.containers(&name).len(), 1);

    let run = stack.cipug(&["adopt", "--subvolume", dir.to_str().unwrap()], &[]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("now a btrfs subvolume"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("already adopted"), "{}", run.stdout);
    assert_eq!(inode(), 256, "a subvolume now");
    assert_eq!(fs::read(dir.join("data/db/table.bin")).unwrap(), big);
    assert_eq!(
        fs::read_to_string(dir.join("data/keep.txt")).unwrap(),
        "precious\n"
    );
    assert!(dir.join("data/started-1").exists());
    let configs = support::sh("snapper", &["--jsonout", "list-configs"]);
    assert!(
        configs.contains(&format!("\"{name}\"")) && configs.contains(dir.to_str().unwrap()),
        "{configs}"
    );
    let backup = stack.root.join(".cipug-adopt-backup").join(&name);
    assert_eq!(
        fs::read_to_string(backup.join("data/keep.txt")).unwrap(),
        "precious\n"
    );
    let (state, image) = stack.containers(&name).into_values().next().unwrap();
    assert_eq!((state.as_str(), image), ("running", format!("{img}@{d1}")));
    // Twice: nothing to do.
    let run = stack.cipug(&["adopt", "--subvolume", dir.to_str().unwrap()], &[]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("already a btrfs subvolume"),
        "{}",
        run.stdout
    );

    // The next update is snapshotted.
    stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Serve);
    stack
        .cipug(&[filter[0], filter[1], "--cache-duration", "0"], &[])
        .expect_code(0);
    let list = support::sh("snapper", &["-c", &name, "list"]);
    assert!(list.contains("cipug update APP"), "{list}");
    support::wait_for("v2 to start", 10, || dir.join("data/started-2").exists());
    assert_eq!(
        fs::read_to_string(dir.join("data/keep.txt")).unwrap(),
        "precious\n"
    );
}

#[test]
fn adopt_refuses_a_folder_it_cannot_snapshot_and_gives_a_subvolume_its_snapper_config() {
    let mut stack = Stack::new();
    let img = stack.image("demo/app");
    stack
        .images
        .push(&stack.registry, "demo/app:latest", "1", Behaviour::Serve);
    let compose =
        format!("services:\n  app:\n    image: {img}:latest\n    volumes:\n      - ./data:/data\n");

    // An ordinary folder: refused, nothing written, no word of `cipug update`.
    let plain = stack.root.join(format!("f6-plain-{}", stack.id));
    fs::create_dir_all(plain.join("data")).unwrap();
    fs::write(plain.join("compose.yml"), &compose).unwrap();
    for args in [vec!["adopt"], vec!["adopt", "--dry-run"]] {
        let run = stack.cipug(&[args, vec![plain.to_str().unwrap()]].concat(), &[]);
        run.expect_code(25);
        assert!(
            run.stderr.contains("not a btrfs subvolume")
                && run.stderr.contains("cipug adopt --subvolume"),
            "{}",
            run.stderr
        );
        assert!(!run.stdout.contains("cipug update"), "{}", run.stdout);
        assert_eq!(
            fs::read_to_string(plain.join("compose.yml")).unwrap(),
            compose
        );
        assert!(!plain.join(".env").exists());
    }
    // Without snapshots there is nothing to refuse.
    let run = stack.cipug(
        &[
            "adopt",
            "--service-snapshot",
            "false",
            plain.to_str().unwrap(),
        ],
        &[],
    );
    run.expect_code(0);
    assert!(
        run.stdout.contains("now run `cipug update`"),
        "{}",
        run.stdout
    );

    // A subvolume without a snapper config: adopt creates the config (--dry-run shows it).
    let name = format!("f6-{}", stack.id);
    let dir = stack.service(&name, &compose, "", false);
    stack.track(&dir, &name);
    let configs = || support::sh("snapper", &["--jsonout", "list-configs"]);
    let run = stack.cipug(&["adopt", "--dry-run", dir.to_str().unwrap()], &[]);
    run.expect_code(0);
    assert!(
        run.stdout.contains(&format!(
            "snapper -c {name} create-config {}",
            dir.display()
        )),
        "{}",
        run.stdout
    );
    assert!(!configs().contains(&format!("\"{name}\"")));
    let run = stack.cipug(&["adopt", dir.to_str().unwrap()], &[]);
    run.expect_code(0);
    assert!(
        run.stdout
            .contains(&format!("created snapper config {name}"))
            && run.stdout.contains("now run `cipug update`"),
        "{}",
        run.stdout
    );
    assert!(configs().contains(&format!("\"{name}\"")), "{}", configs());
    // Again: the config is found, the files are adopted already.
    let run = stack.cipug(&["adopt", dir.to_str().unwrap()], &[]);
    run.expect_code(0);
    assert!(
        run.stdout.contains(&format!("snapper config {name}"))
            && run.stdout.contains("already adopted"),
        "{}",
        run.stdout
    );
    // The first update snapshots.
    stack
        .cipug(&["update", "--services-filter", &name], &[])
        .expect_code(0);
    let list = support::sh("snapper", &["-c", &name, "list"]);
    assert!(list.contains("cipug update APP"), "{list}");
}

#[test]
fn update_policy_per_entry_and_hooks_per_service() {
    let mut stack = Stack::new();
    let img = stack.image("demo/app");
    let d1 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "1", Behaviour::Serve);
    let tagged = format!("SERVICE_APP_IMAGE_TAGGED={img}\n");
    stack.service(
        "f4-notify",
        COMPOSE,
        &format!("{tagged}SERVICE_APP_IMAGE_UPDATE=notify\nSERVICE_APP_IMAGE_HASHED={img}@{d1}\n"),
        true,
    );
    // Off: never resolved, so an unreachable registry is no error.
    let off_env = "SERVICE_APP_IMAGE_TAGGED=127.0.0.1:9/gone:1\nSERVICE_APP_IMAGE_UPDATE=off\n";
    let off = stack.service("f4-off", COMPOSE, off_env, true);
    let hooks = stack.service(
        "f4-hooks",
        COMPOSE,
        &format!("{tagged}PRE_UPDATE_COMMAND=\"echo \\\"$CIPUG_HOOK $CIPUG_SERVICE\\\" > data/dump.sql\"\nPOST_UPDATE_COMMAND='touch data/post-ran'\n"),
        true,
    );
    let failing_env = format!("{tagged}PRE_UPDATE_COMMAND='echo no database >&2; exit 3'\n");
    let failing = stack.service("f4-prefail", COMPOSE, &failing_env, true);
    let slow_env = format!("{tagged}PRE_UPDATE_COMMAND='sleep 30'\nUPDATE_COMMAND_TIMEOUT=1\n");
    stack.service("f4-slow", COMPOSE, &slow_env, true);
    let recorded = stack.work.path().join("notified.txt");
    let notify = format!(
        "sh -c 'echo \"$CIPUG_NOTIFY_SERVICE|$CIPUG_NOTIFY_ENTRY|$CIPUG_NOTIFY_OUTCOME\" >> {}'",
        recorded.display()
    );
    let env = [
        ("CIPUG_NOTIFY_COMMAND", notify.as_str()),
        ("CIPUG_CACHE_DURATION", "0"),
    ];

    let started = std::time::Instant::now();
    let run = stack.cipug(&[], &env);
    run.expect_code(30);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(25),
        "the slow hook was cut"
    );
    // The pre-hook ran before the snapshot, so its dump is in it; the post-hook after.
    let snapshots = stack.snapshots("f4-hooks");
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    let in_snapshot = hooks.join(format!(
        ".snapshots/{}/snapshot/data/dump.sql",
        snapshots[0].0
    ));
    assert_eq!(fs::read_to_string(in_snapshot).unwrap(), "pre f4-hooks\n");
    assert!(hooks.join("data/post-ran").exists());
    assert_eq!(stack.containers("f4-hooks").len(), 1);
    // A failing pre-hook cancels that service's update: no snapshot, no pin, no container.
    assert!(
        run.stderr.contains(
            "f4-prefail: PRE_UPDATE_COMMAND failed: `timeout '--kill-after=10' 300 sh -c"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("no database"), "{}", run.stderr);
    assert_eq!(
        fs::read_to_string(failing.join(".env")).unwrap(),
        failing_env
    );
    assert!(stack.snapshots("f4-prefail").is_empty());
    assert!(stack.containers("f4-prefail").is_empty());
    assert!(
        run.stderr.contains("f4-slow: PRE_UPDATE_COMMAND timed out"),
        "{}",
        run.stderr
    );
    // Off: untouched and silent.
    assert_eq!(fs::read_to_string(off.join(".env")).unwrap(), off_env);
    assert!(!run.stderr.contains("127.0.0.1:9"), "{}", run.stderr);
    assert!(!run.stdout.contains("f4-off"), "{}", run.stdout);

    // Notify: a new digest is reported and notified, never pinned or restarted.
    let d2 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Serve);
    let dry = stack.cipug(
        &["update", "--dry-run", "--services-filter", "f4-hooks"],
        &env,
    );
    dry.expect_code(0);
    assert!(
        dry.stdout
            .contains("PRE_UPDATE_COMMAND: timeout '--kill-after=10' 300 sh -c"),
        "{}",
        dry.stdout
    );
    let run = stack.cipug(&["--services-filter", "f4-notify"], &env);
    run.expect_code(0);
    let row = run
        .stdout
        .lines()
        .find(|l| l.contains("f4-notify"))
        .unwrap_or_default();
    assert!(row.contains("available"), "{}", run.stdout);
    assert!(
        run.stderr.contains(&format!("new digest {img}@{d2}")),
        "{}",
        run.stderr
    );
    let env_now = fs::read_to_string(stack.root.join("f4-notify/.env")).unwrap();
    assert!(env_now.contains(&format!("HASHED={img}@{d1}")), "{env_now}");
    assert!(stack.snapshots("f4-notify").is_empty());
    assert!(stack.containers("f4-notify").is_empty());
    let notes = fs::read_to_string(&recorded).unwrap();
    assert!(notes.contains("f4-notify|APP|available"), "{notes}");
}

#[test]
fn tags_resolve_through_registries_conf_mirrors_and_rewrites_as_podman_pulls() {
    let mut stack = Stack::new();
    let reg = stack.registry.addr.clone();
    let d1 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "1", Behaviour::Serve);
    // The upstream does not exist here; only its mirror (the local registry) answers. A
    // second prefix is rewritten to a folder of the local registry.
    let conf = stack.work.path().join("registries.conf");
    let mut text = fs::read_to_string(&conf).unwrap();
    text.push_str(&format!(
        "[[registry]]\nprefix = \"upstream.invalid\"\nlocation = \"upstream.invalid\"\n[[registry.mirror]]\nlocation = \"{reg}\"\ninsecure = true\n\n[[registry]]\nprefix = \"rewrite.invalid/team\"\nlocation = \"{reg}/demo\"\n"
    ));
    fs::write(&conf, text).unwrap();
    let svc = stack.service(
        "f5-mirror",
        COMPOSE,
        "SERVICE_APP_IMAGE_TAGGED=upstream.invalid/demo/app:latest\n",
        true,
    );
    stack.service(
        "f5-rewrite",
        COMPOSE,
        "SERVICE_APP_IMAGE_TAGGED=rewrite.invalid/team/app:latest\n",
        true,
    );
    let run = stack.cipug(&["check", "--format", "json"], &[]);
    run.expect_code(0);
    let check: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let latest: Vec<&str> = check["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["images"][0]["latest"].as_str().unwrap())
        .collect();
    assert_eq!(
        latest,
        [
            format!("upstream.invalid/demo/app@{d1}"),
            format!("rewrite.invalid/team/app@{d1}")
        ],
        "the name as written, the digest from the mirror"
    );
    // podman pulls the pin through the same mirror: the update runs for real.
    let run = stack.cipug(&["update", "--services-filter", "f5-mirror"], &[]);
    run.expect_code(0);
    // The next run confirms the pinned tag from the cache and says so; the unpinned one is
    // asked live (a cache never makes a first pin); --no-cache asks both again.
    let run = stack.cipug(&["check"], &[]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("1 of 2 tag(s) answered from the cache"),
        "{}",
        run.stderr
    );
    let run = stack.cipug(&["check", "--no-cache"], &[]);
    run.expect_code(0);
    assert!(!run.stderr.contains("from the cache"), "{}", run.stderr);
    let (state, _) = stack.containers("f5-mirror").into_values().next().unwrap();
    assert_eq!(state, "running");
    support::wait_for("v1 to start", 10, || svc.join("data/started-1").exists());
    let env = fs::read_to_string(svc.join(".env")).unwrap();
    assert!(
        env.contains(&format!(
            "SERVICE_APP_IMAGE_HASHED=upstream.invalid/demo/app@{d1}"
        )),
        "{env}"
    );

    // The tag list (a newer version) and the image labels (what changed) come through the
    // mirror too.
    let labelled = |stack: &Stack, version: &str, tag: &str| {
        let (layout, _) = stack.images.layout_labelled(
            version,
            Behaviour::Serve,
            &[("org.opencontainers.image.version", version)],
        );
        stack.images.copy(
            &layout,
            &reg,
            &format!("demo/wc:{tag}"),
            &["--preserve-digests"],
        )
    };
    let old = labelled(&stack, "1.0.0", "1.0");
    labelled(&stack, "1.1.0", "1.1");
    stack.service(
        "f5-labels",
        COMPOSE,
        &format!("SERVICE_APP_IMAGE_TAGGED=upstream.invalid/demo/wc:1.0\nSERVICE_APP_IMAGE_HASHED=upstream.invalid/demo/wc@{old}\n"),
        true,
    );
    let new = labelled(&stack, "1.0.1", "1.0");
    let only = ["--services-filter", "f5-labels", "-vv"];
    let run = stack.cipug(&[&["check", "--format", "json"][..], &only].concat(), &[]);
    run.expect_code(0);
    let check: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let image = &check["services"][0]["images"][0];
    assert_eq!(image["newer"]["minor"], "1.1", "{image}\n{}", run.stderr);
    assert!(!run.stderr.contains("tags not listed"), "{}", run.stderr);
    let quiet = [
        ("CIPUG_SERVICE_STOP_START", "false"),
        ("CIPUG_SERVICE_PULL", "false"),
    ];
    let run = stack.cipug(&[&["update"][..], &only].concat(), &quiet);
    run.expect_code(0);
    let row = run
        .stdout
        .lines()
        .find(|l| l.starts_with("f5-labels"))
        .unwrap_or_default();
    assert!(
        row.contains("1.0.0 -> 1.0.1"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(!run.stderr.contains("labels not read"), "{}", run.stderr);
    assert!(stack.pin("f5-labels").unwrap().ends_with(&new));
}

/// On a terminal a waiting health gate says what it waits for and how long it may still
/// take; in a log (no terminal) it does not. The terminal is `script`'s pseudo-terminal.
#[test]
fn a_waiting_gate_says_so_on_a_terminal_only() {
    let mut stack = Stack::new();
    let img = stack.image("demo/app");
    stack
        .images
        .push(&stack.registry, "demo/app:latest", "1", Behaviour::Serve);
    stack.service(
        "g-term",
        COMPOSE,
        &format!("SERVICE_APP_IMAGE_TAGGED={img}\n"),
        true,
    );
    let settings = [("CIPUG_HEALTH_SETTLE", "4"), ("CIPUG_CACHE_DURATION", "0")];
    let cmd = stack.cipug_command(&[], &settings);
    let line = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| shell_words::quote(&a.to_string_lossy()).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let mut script = Command::new("script");
    script
        .args(["-qec", &format!("exec {line}"), "/dev/null"])
        .env_clear();
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            script.env(key, value);
        }
    }
    let out = script.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("g-term: health gate waits for") && text.contains("s left at most"),
        "{text}"
    );
    // The same wait in a log says nothing of it.
    stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Serve);
    let run = stack.cipug(&[], &settings);
    run.expect_code(0);
    assert!(
        !run.stderr.contains("health gate waits for"),
        "{}",
        run.stderr
    );
}
