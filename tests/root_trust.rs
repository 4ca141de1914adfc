//! Root trusts nothing another user can write, and every wait has a bound: real local users
//! (created here with `useradd`) plant links and rewrite service files, and real processes
//! linger holding cipug's pipes. The registry is the fake one of `support::fake` (these tests
//! are about the files and processes, not the registry); the update runs without snapshots,
//! restarts or pulls.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::fake::FakeRegistry;
use support::{plain_services, run_cipug, Run};

/// The uid of the local user `name`, created (a system user without a home) if missing.
fn user(name: &str) -> u32 {
    let id = || {
        Command::new("id")
            .args(["-u", name])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<u32>()
                    .unwrap()
            })
    };
    if let Some(uid) = id() {
        return uid;
    }
    let status = Command::new("useradd")
        .args(["--system", "--no-create-home", "--shell", "/bin/sh", name])
        .status()
        .unwrap();
    // Another test may have created it meanwhile.
    id().unwrap_or_else(|| panic!("useradd {name}: {status}"))
}

/// Runs `script` with `sh -c` as the user `name`.
fn as_user(name: &str, script: &str) {
    let out = Command::new("runuser")
        .args(["-u", name, "--", "sh", "-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "as {name}: {script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A folder other users can enter (the test folders are root's, 0700, by default).
fn open_to_all(path: &Path) {
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Settings of an update that only pins (no snapshot, restart or pull).
fn pin_only<'a>(root: &'a Path, registry: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("CIPUG_SERVICES_ROOT", root.to_str().unwrap()),
        ("CIPUG_INSECURE_REGISTRIES", registry),
        ("CIPUG_CACHE_DURATION", "0"),
        ("CIPUG_SERVICE_SNAPSHOT", "no"),
        ("CIPUG_SERVICE_STOP_START", "no"),
        ("CIPUG_SERVICE_PULL", "no"),
        ("CIPUG_PRUNE_IMAGES", "no"),
    ]
}

fn tagged(registry: &str) -> String {
    format!("SERVICE_APP_IMAGE_TAGGED={registry}/good:latest\n")
}

fn all(run: &Run) -> String {
    format!("{}{}", run.stdout, run.stderr)
}

#[test]
fn a_metrics_file_link_planted_by_the_exporter_is_replaced_never_followed() {
    let exporter = user("cipug-t-exporter");
    let registry = FakeRegistry::start();
    let a = registry.addr.as_str();
    let base = tempfile::tempdir().unwrap();
    open_to_all(base.path());
    // A root-only file, standing in for /etc/shadow.
    let victim = base.path().join("shadow");
    fs::write(&victim, "root:$6$secret:20000::::::\n").unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o600)).unwrap();
    // node_exporter's textfile folder, the exporter's own.
    let textfile = base.path().join("textfile");
    fs::create_dir(&textfile).unwrap();
    std::os::unix::fs::chown(&textfile, Some(exporter), Some(exporter)).unwrap();
    let metrics = textfile.join("cipug.prom");
    as_user(
        "cipug-t-exporter",
        &format!("ln -sf {} {}", victim.display(), metrics.display()),
    );
    let root = plain_services(&[("svc", &tagged(a))]);
    let mut env = pin_only(root.path(), a);
    env.push(("CIPUG_METRICS_FILE", metrics.to_str().unwrap()));
    let run = run_cipug(&["check"], &env);
    assert_eq!(run.code, 0, "{}", all(&run));
    assert_eq!(
        fs::read_to_string(&victim).unwrap(),
        "root:$6$secret:20000::::::\n",
        "the link's target was written"
    );
    let meta = fs::symlink_metadata(&metrics).unwrap();
    assert!(meta.file_type().is_file(), "the link was replaced");
    assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o644));
    assert!(fs::read_to_string(&metrics)
        .unwrap()
        .contains("cipug_last_run_exit_code 0"));
    let run = run_cipug(&["doctor"], &env);
    assert_eq!(run.code, 12, "{}", all(&run));
    assert!(
        all(&run).contains(&format!(
            "METRICS_FILE {}: {} can be written by its owner, user {exporter}",
            metrics.display(),
            textfile.display()
        )),
        "{}",
        all(&run)
    );
}

#[test]
fn service_files_another_user_can_write_are_refused_and_their_hooks_never_run() {
    user("cipug-t-mallory");
    let registry = FakeRegistry::start();
    let a = registry.addr.as_str();
    let root = plain_services(&[
        ("evil", &tagged(a)),
        ("good", &tagged(a)),
        ("open", &tagged(a)),
    ]);
    open_to_all(root.path());
    let marker = root.path().join("pwned");
    // The .env belongs to mallory, who adds a hook and so forces an update.
    let evil = root.path().join("evil");
    as_user("cipug-t-mallory", "true");
    Command::new("chown")
        .args(["cipug-t-mallory", evil.join(".env").to_str().unwrap()])
        .status()
        .unwrap();
    as_user(
        "cipug-t-mallory",
        &format!(
            "echo 'PRE_UPDATE_COMMAND=\"id > {}\"' >> {}",
            marker.display(),
            evil.join(".env").display()
        ),
    );
    // An override file anyone can write: compose merges it.
    let open = root.path().join("open");
    fs::write(open.join("compose.override.yml"), "services: {}\n").unwrap();
    fs::set_permissions(
        open.join("compose.override.yml"),
        fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let env = pin_only(root.path(), a);
    let run = run_cipug(&["update"], &env);
    assert_eq!(run.code, 25, "{}", all(&run));
    assert!(!marker.exists(), "root ran mallory's hook");
    let text = all(&run);
    assert!(
        text.contains(&format!(
            "{} is owned by user cipug-t-mallory",
            evil.join(".env").display()
        )) && text.contains("chown root:root"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{} is writable by every user (owner user root (0), group root (0), mode 666)",
            open.join("compose.override.yml").display()
        )),
        "{text}"
    );
    let pinned = |name: &str| {
        fs::read_to_string(root.path().join(name).join(".env"))
            .unwrap()
            .contains("HASHED")
    };
    assert!(pinned("good"), "the other services go on");
    assert!(!pinned("evil") && !pinned("open"));
    // doctor names each untrusted file; adopt refuses the folder before writing anything.
    let run = run_cipug(&["doctor"], &env);
    assert_eq!(run.code, 12, "{}", all(&run));
    assert!(
        all(&run).contains("evil: not trusted:") && all(&run).contains("open: not trusted:"),
        "{}",
        all(&run)
    );
    let before = fs::read_to_string(open.join("compose.yml")).unwrap();
    let run = run_cipug(&["adopt", open.to_str().unwrap()], &env);
    assert_eq!(run.code, 25, "{}", all(&run));
    assert_eq!(
        fs::read_to_string(open.join("compose.yml")).unwrap(),
        before
    );
    // Trusted on purpose: the owner named in TRUSTED_OWNERS.
    let mut trusting = env.clone();
    trusting.push(("CIPUG_TRUSTED_OWNERS", "cipug-t-mallory"));
    trusting.push(("CIPUG_SERVICES_FILTER", "evil"));
    let run = run_cipug(&["update"], &trusting);
    assert_eq!(run.code, 0, "{}", all(&run));
    assert!(marker.exists() && pinned("evil"));
}

#[test]
fn a_hook_that_leaves_a_process_holding_its_output_is_bounded() {
    let registry = FakeRegistry::start();
    let a = registry.addr.as_str();
    // It prints 10 MB and leaves a process that would hold its output for a minute.
    let hook = "PRE_UPDATE_COMMAND=\"sleep 60 & head -c 10485760 /dev/zero | tr '\\\\0' x\"\n\
                UPDATE_COMMAND_TIMEOUT=1\n";
    let root = plain_services(&[("svc", &format!("{}{hook}", tagged(a)))]);
    let started = Instant::now();
    let run = run_cipug(&["update"], &pin_only(root.path(), a));
    let took = started.elapsed();
    eprintln!("took {took:?}");
    assert_eq!(run.code, 0, "{}", all(&run));
    // UPDATE_COMMAND_TIMEOUT + 15 s, and 2 s for the pipes; it waited 60 s before.
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert!(
        run.stderr
            .contains("left processes behind that kept its output open")
            && run.stderr.contains("beyond the 8 MiB cipug keeps"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_credential_helper_that_starts_an_agent_is_bounded() {
    let token = support::fake::TokenServer::start(Some(r#"{"token": "t", "expires_in": 60}"#));
    let registry = FakeRegistry::start_with_challenge(Some(format!(
        r#"Bearer realm="http://{}/token",service="fake""#,
        token.addr
    )));
    let a = registry.addr.as_str();
    let tools = tempfile::tempdir().unwrap();
    let helper = tools.path().join("docker-credential-agent");
    fs::write(
        &helper,
        "#!/bin/sh\nsleep 40 &\necho '{\"Username\":\"u\",\"Secret\":\"s\"}'\n",
    )
    .unwrap();
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
    let auth = tools.path().join("auth.json");
    fs::write(
        &auth,
        serde_json::json!({"credHelpers": {token.addr.as_str(): "agent", a: "agent"}}).to_string(),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        tools.path().display(),
        std::env::var("PATH").unwrap()
    );
    let root = plain_services(&[("svc", &tagged(a))]);
    let mut env = pin_only(root.path(), a);
    env.extend([
        ("CIPUG_REGISTRY_TIMEOUT", "3"),
        ("CIPUG_VERBOSITY", "2"),
        ("REGISTRY_AUTH_FILE", auth.to_str().unwrap()),
        ("PATH", path.as_str()),
    ]);
    let started = Instant::now();
    let run = run_cipug(&["check"], &env);
    let took = started.elapsed();
    eprintln!("took {took:?}");
    // REGISTRY_TIMEOUT, and 2 s for the pipes; 40 s before.
    assert!(took < Duration::from_secs(15), "{took:?}: {}", all(&run));
    assert!(
        run.stderr.contains("docker-credential-agent")
            && run.stderr.contains("left processes behind"),
        "{}",
        all(&run)
    );
}
