//! A hostile or broken registry, token server and network: what cipug pins, how long it
//! waits, and what reaches its log. The misbehaviour comes from the fake registry and token
//! server in `support::fake` (a real registry cannot be made to misbehave on purpose); the
//! redirect test puts a redirecting HTTPS server in front of it.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use support::fake::{self, FakeRegistry, Silent, TlsRedirect, TokenServer};
use support::{plain_services, run_cipug, Run};

/// `cipug check --format json` over `services` (name, `.env`), with `env` added.
fn check(services: &[(&str, String)], env: &[(&str, &str)]) -> (Run, Duration) {
    let list: Vec<(&str, &str)> = services.iter().map(|(n, e)| (*n, e.as_str())).collect();
    let root = plain_services(&list);
    let mut all = vec![
        ("CIPUG_SERVICES_ROOT", root.path().to_str().unwrap()),
        ("CIPUG_CACHE_DURATION", "0"),
    ];
    all.extend_from_slice(env);
    let started = Instant::now();
    let run = run_cipug(&["check", "--format", "json"], &all);
    (run, started.elapsed())
}

fn tagged(reference: &str) -> String {
    format!("SERVICE_APP_IMAGE_TAGGED={reference}\n")
}

/// The `latest` and `error` of the only entry of each service, by service name.
fn outcomes(run: &Run) -> Vec<(String, Option<String>, Option<String>)> {
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    json["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let image = &s["images"][0];
            let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
            (
                s["name"].as_str().unwrap().to_owned(),
                text(&image["latest"]),
                text(&image["error"]),
            )
        })
        .collect()
}

#[test]
fn a_body_that_is_not_a_manifest_is_never_pinned() {
    let registry = FakeRegistry::start();
    let a = &registry.addr;
    let services = [
        ("html", tagged(&format!("{a}/html:latest"))),
        ("typeless", tagged(&format!("{a}/typeless:latest"))),
        ("nodigest", tagged(&format!("{a}/nodigest:latest"))),
    ];
    let (run, _) = check(&services, &[("CIPUG_INSECURE_REGISTRIES", a)]);
    assert_eq!(run.code, 30, "{}", run.stderr);
    let found = outcomes(&run);
    assert_eq!(found[0].0, "html");
    assert_eq!(found[0].1, None);
    assert!(
        found[0]
            .2
            .as_deref()
            .unwrap()
            .contains("`text/html`, which is not a manifest type"),
        "{found:?}"
    );
    assert_eq!(found[2].0, "typeless");
    assert_eq!(found[2].1, None);
    assert!(
        found[2].2.as_deref().unwrap().contains("not a manifest"),
        "{found:?}"
    );
    // A real manifest without a digest header is still hashed and pinned.
    assert_eq!(found[1].0, "nodigest");
    assert!(
        found[1]
            .1
            .as_deref()
            .unwrap()
            .ends_with(&fake::body_digest()),
        "{found:?}"
    );
}

#[test]
fn redirects_never_lower_security() {
    let plain = FakeRegistry::start();
    let pki = support::auth::pki();
    let target = format!("http://{}/v2/good/manifests/latest", plain.addr);
    let front = TlsRedirect::start(&pki.cert, &pki.key, &target);
    let certs = tempfile::tempdir().unwrap();
    fs::create_dir_all(certs.path().join(&front.addr)).unwrap();
    fs::copy(&pki.ca, certs.path().join(&front.addr).join("ca.crt")).unwrap();
    let services = [
        ("downgrade", tagged(&format!("{}/app:latest", front.addr))),
        (
            "insecure",
            tagged(&format!("{}/redirect:latest", plain.addr)),
        ),
    ];
    let (run, _) = check(
        &services,
        &[
            ("CIPUG_REGISTRY_CERTS_DIR", certs.path().to_str().unwrap()),
            ("CIPUG_INSECURE_REGISTRIES", &plain.addr),
        ],
    );
    assert_eq!(run.code, 30, "{}", run.stderr);
    let found = outcomes(&run);
    assert_eq!(found[0].1, None, "{found:?}");
    assert!(
        found[0]
            .2
            .as_deref()
            .unwrap()
            .contains("redirected to plain HTTP"),
        "{found:?}"
    );
    assert_eq!(found[1].1, None, "{found:?}");
    assert!(
        found[1].2.as_deref().unwrap().contains("not followed"),
        "{found:?}"
    );
    assert_eq!(plain.count("HEAD /v2/good"), 0, "never reached over HTTP");
}

#[test]
fn a_hanging_registry_costs_one_timeout_for_any_number_of_references() {
    let silent = Silent::start();
    let fake = FakeRegistry::start();
    let insecure = format!("{},{}", silent.addr, fake.addr);
    let env = [
        ("CIPUG_REGISTRY_TIMEOUT", "2"),
        ("CIPUG_INSECURE_REGISTRIES", insecure.as_str()),
    ];
    for (registry, repo, count) in [
        (&silent.addr, "app", 1),
        (&silent.addr, "app", 50),
        (&fake.addr, "hang", 50),
    ] {
        // Distinct references: one tag each.
        let services: Vec<(String, String)> = (0..count)
            .map(|i| {
                (
                    format!("s{i:02}"),
                    tagged(&format!("{registry}/{repo}:t{i}")),
                )
            })
            .collect();
        let list: Vec<(&str, String)> = services
            .iter()
            .map(|(n, e)| (n.as_str(), e.clone()))
            .collect();
        let (run, took) = check(&list, &env);
        assert_eq!(run.code, 30, "{}", run.stderr);
        assert!(
            took < Duration::from_millis(2 * 2000 + 1500),
            "{repo} x{count}: {took:?}"
        );
        assert!(
            run.stderr.contains("did not answer in time")
                || run
                    .stderr
                    .contains("REGISTRY_TIMEOUT (2 s) for this registry passed"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn a_retry_after_past_the_deadline_gives_up_at_once() {
    let registry = FakeRegistry::start();
    let a = &registry.addr;
    let (run, took) = check(
        &[("busy", tagged(&format!("{a}/throttled:latest")))],
        &[
            ("CIPUG_INSECURE_REGISTRIES", a),
            ("CIPUG_REGISTRY_TIMEOUT", "30"),
        ],
    );
    assert_eq!(run.code, 30, "{}", run.stderr);
    assert!(took < Duration::from_secs(5), "{took:?}");
    let error = outcomes(&run)[0].2.clone().unwrap();
    assert!(
        error.contains(
            "429 Too Many Requests (TOOMANYREQUESTS: pull rate limit reached); \
             it asks to wait 60 s, past REGISTRY_TIMEOUT (30 s) for this registry: gave up"
        ),
        "{error}"
    );
    assert_eq!(registry.count("HEAD /v2/throttled"), 1, "asked once");
    assert_eq!(
        registry.count("GET /v2/throttled"),
        1,
        "and once for its words"
    );
}

/// A registry whose token server is `token`.
fn behind(token: &TokenServer) -> FakeRegistry {
    FakeRegistry::start_with_challenge(Some(format!(
        r#"Bearer realm="http://{}/token",service="fake""#,
        token.addr
    )))
}

#[test]
fn a_hanging_token_server_is_named_and_bounded() {
    let token = TokenServer::start(None);
    let registry = behind(&token);
    let a = &registry.addr;
    let services: Vec<(&str, String)> = ["s1", "s2", "s3"]
        .iter()
        .map(|n| (*n, tagged(&format!("{a}/good{n}:latest"))))
        .collect();
    let (run, took) = check(
        &services,
        &[
            ("CIPUG_INSECURE_REGISTRIES", a),
            ("CIPUG_REGISTRY_TIMEOUT", "2"),
        ],
    );
    assert_eq!(run.code, 30, "{}", run.stderr);
    assert!(took < Duration::from_millis(2 * 2000 + 1500), "{took:?}");
    assert!(
        run.stderr.contains(&format!(
            "token server {} did not answer in time",
            token.addr
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn a_token_that_never_expires_is_accepted() {
    let token = TokenServer::start(Some(
        r#"{"token": "forever", "expires_in": 18446744073709551615}"#,
    ));
    let registry = behind(&token);
    let a = &registry.addr;
    let (run, _) = check(
        &[("svc", tagged(&format!("{a}/good:latest")))],
        &[("CIPUG_INSECURE_REGISTRIES", a)],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(&fake::body_digest()));
}

#[test]
fn secrets_never_reach_the_log() {
    let token = TokenServer::start(Some(r#"{"token": "tok-s3cret", "expires_in": 60}"#));
    let registry = behind(&token);
    let a = &registry.addr;
    // Credentials from a helper (its answer must not be logged) and from the auth file.
    let tools = tempfile::tempdir().unwrap();
    let helper = tools.path().join("docker-credential-testhelper");
    fs::write(
        &helper,
        "#!/bin/sh\necho '{\"Username\":\"helper-user\",\"Secret\":\"helper-s3cret\"}'\n",
    )
    .unwrap();
    fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let auth = tools.path().join("auth.json");
    fs::write(
        &auth,
        serde_json::json!({"credHelpers": {token.addr.as_str(): "testhelper"}}).to_string(),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        tools.path().display(),
        std::env::var("PATH").unwrap()
    );
    let (run, _) = check(
        &[("svc", tagged(&format!("{a}/good:latest")))],
        &[
            ("CIPUG_INSECURE_REGISTRIES", a),
            ("CIPUG_VERBOSITY", "3"),
            ("REGISTRY_AUTH_FILE", auth.to_str().unwrap()),
            ("PATH", &path),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("running docker-credential-testhelper"),
        "{}",
        run.stderr
    );
    let basic = "aGVscGVyLXVzZXI6aGVscGVyLXMzY3JldA"; // base64 of helper-user:helper-s3cret
    for secret in [
        "helper-s3cret",
        "tok-s3cret",
        basic,
        "uthorization",
        "Bearer ",
    ] {
        assert!(!run.stderr.contains(secret), "{secret} in:\n{}", run.stderr);
    }
    assert!(
        run.stderr.lines().count() < 60,
        "no wire dumps:\n{}",
        run.stderr
    );
}

/// A folder owned by another user (uid 4321), as an attacker would make it.
fn attacker_folder(path: &Path) {
    fs::create_dir_all(path).unwrap();
    std::os::unix::fs::chown(path, Some(4321), Some(4321)).unwrap();
}

#[test]
fn a_cache_folder_link_planted_by_another_user_is_not_followed() {
    let registry = FakeRegistry::start();
    let a = &registry.addr;
    let base = tempfile::tempdir().unwrap();
    let victim = base.path().join("victim");
    fs::create_dir(&victim).unwrap();
    let attacker = base.path().join("x");
    attacker_folder(&attacker);
    std::os::unix::fs::symlink(&victim, attacker.join("cdir")).unwrap();
    rustix::fs::chownat(
        rustix::fs::CWD,
        attacker.join("cdir").as_path(),
        Some(rustix::process::Uid::from_raw(4321)),
        None,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
    let cache = attacker.join("cdir/cache.json");
    let (run, _) = check(
        &[("svc", tagged(&format!("{a}/good:latest")))],
        &[
            ("CIPUG_INSECURE_REGISTRIES", a),
            ("CIPUG_CACHE_DURATION", "3600"),
            ("CIPUG_CACHE_LOCATION", cache.to_str().unwrap()),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("owned by user 4321"), "{}", run.stderr);
    assert_eq!(fs::read_dir(&victim).unwrap().count(), 0, "nothing written");
}

#[test]
fn a_state_folder_of_another_user_is_refused_by_update_and_doctor() {
    let registry = FakeRegistry::start();
    let a = &registry.addr;
    let base = tempfile::tempdir().unwrap();
    let state = base.path().join("state");
    attacker_folder(&state);
    // A forged history holding the new digest back for ever.
    let pin = format!("{a}/good@{}", fake::body_digest());
    let forged = serde_json::json!({"time": "2026-01-01T00:00:00Z", "service": "svc",
        "entry": "APP", "old": null, "new": pin, "outcome": "held back"});
    fs::write(state.join("history.jsonl"), format!("{forged}\n")).unwrap();
    let root = plain_services(&[("svc", &tagged(&format!("{a}/good:latest")))]);
    let env = [
        ("CIPUG_SERVICES_ROOT", root.path().to_str().unwrap()),
        ("CIPUG_INSECURE_REGISTRIES", a.as_str()),
        ("CIPUG_STATE_DIR", state.to_str().unwrap()),
        ("CIPUG_CACHE_DURATION", "0"),
        ("CIPUG_SERVICE_SNAPSHOT", "no"),
        ("CIPUG_SERVICE_STOP_START", "no"),
        ("CIPUG_SERVICE_PULL", "no"),
        ("CIPUG_PRUNE_IMAGES", "no"),
    ];
    for args in [&["update"][..], &["history"][..]] {
        let run = run_cipug(args, &env);
        assert_eq!(run.code, 25, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("owned by user 4321") && run.stderr.contains("STATE_DIR"),
            "{}",
            run.stderr
        );
    }
    assert!(!fs::read_to_string(root.path().join("svc/.env"))
        .unwrap()
        .contains("HASHED"));
    let run = run_cipug(&["doctor"], &env);
    assert_eq!(run.code, 12, "{}", run.stderr);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains(&format!("state folder {}: ", state.display()))
            && all.contains("owned by user 4321"),
        "{all}"
    );
}

#[test]
fn odd_service_folders_are_skipped_and_linked_env_temps_cleaned() {
    let registry = FakeRegistry::start();
    let a = &registry.addr;
    let env = tagged(&format!("{a}/good:latest"));
    let root = plain_services(&[
        ("ok", env.as_str()),
        ("esc\u{1b}[31mred", env.as_str()),
        ("new\nline", env.as_str()),
    ]);
    // A service folder that is a link to a folder outside SERVICES_ROOT.
    let outside = plain_services(&[("elsewhere", env.as_str()), ("shared", env.as_str())]);
    std::os::unix::fs::symlink(outside.path().join("elsewhere"), root.path().join("linked"))
        .unwrap();
    // A real service folder whose .env is a link: the stale temporary file is beside the
    // link's target.
    let envlink = root.path().join("envlink");
    fs::create_dir(&envlink).unwrap();
    fs::copy(
        root.path().join("ok/compose.yml"),
        envlink.join("compose.yml"),
    )
    .unwrap();
    let target = outside.path().join("shared/.env");
    std::os::unix::fs::symlink(&target, envlink.join(".env")).unwrap();
    let stale = outside.path().join("shared/.env.cipug-abc123.tmp");
    fs::write(&stale, "half").unwrap();
    let run = run_cipug(
        &["update"],
        &[
            ("CIPUG_SERVICES_ROOT", root.path().to_str().unwrap()),
            ("CIPUG_INSECURE_REGISTRIES", a),
            ("CIPUG_CACHE_DURATION", "0"),
            ("CIPUG_SERVICE_SNAPSHOT", "no"),
            ("CIPUG_SERVICE_STOP_START", "no"),
            ("CIPUG_SERVICE_PULL", "no"),
            ("CIPUG_PRUNE_IMAGES", "no"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let env_of = |dir: &Path| fs::read_to_string(dir.join(".env")).unwrap();
    assert!(env_of(&root.path().join("ok")).contains("HASHED"));
    assert!(
        env_of(target.parent().unwrap()).contains("HASHED"),
        "written through"
    );
    assert!(
        !stale.exists(),
        "stale temporary file beside the target removed"
    );
    for skipped in ["esc\u{1b}[31mred", "new\nline"] {
        assert!(!env_of(&root.path().join(skipped)).contains("HASHED"));
    }
    assert!(!env_of(&outside.path().join("elsewhere")).contains("HASHED"));
    assert!(
        run.stderr
            .contains("linked: skipped, a service folder must not be a symlink"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("esc\\u{1b}[31mred: skipped, the folder name holds control"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("new\\nline: skipped"), "{}", run.stderr);
    assert!(!run.stderr.contains('\u{1b}') && !run.stdout.contains('\u{1b}'));
    assert!(!run.stdout.contains("new\nline"));
}

#[test]
fn config_files_others_could_write_are_refused_and_webhook_tokens_redacted() {
    let registry = FakeRegistry::start();
    let a = &registry.addr;
    let root = plain_services(&[("svc", &tagged(&format!("{a}/good:latest")))]);
    let files = tempfile::tempdir().unwrap();
    let config = files.path().join("cipug.json");
    let hook = "http://127.0.0.1:1/hooks/s3cret-token?key=s3cret-key";
    fs::write(
        &config,
        serde_json::json!({"NOTIFY_URL": hook, "NOTIFY_COMMAND": "true"}).to_string(),
    )
    .unwrap();
    let env = [
        ("CIPUG_SERVICES_ROOT", root.path().to_str().unwrap()),
        ("CIPUG_CONFIG_FILE", config.to_str().unwrap()),
        ("CIPUG_INSECURE_REGISTRIES", a.as_str()),
        ("CIPUG_CACHE_DURATION", "0"),
        ("CIPUG_SERVICE_SNAPSHOT", "no"),
        ("CIPUG_SERVICE_STOP_START", "no"),
        ("CIPUG_SERVICE_PULL", "no"),
        ("CIPUG_PRUNE_IMAGES", "no"),
    ];
    for mode in [0o666, 0o620] {
        fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
        let run = run_cipug(&["update"], &env);
        assert_eq!(run.code, 25, "{mode:o}: {}", run.stderr);
        assert!(
            run.stderr.contains("writable by other users"),
            "{}",
            run.stderr
        );
    }
    fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    std::os::unix::fs::chown(&config, Some(4321), None).unwrap();
    let run = run_cipug(&["config"], &env);
    assert_eq!(run.code, 25, "{}", run.stderr);
    assert!(run.stderr.contains("owned by user 4321"), "{}", run.stderr);
    std::os::unix::fs::chown(&config, Some(0), None).unwrap();
    for args in [&["config"][..], &["config", "--json"][..]] {
        let run = run_cipug(args, &env);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stdout.contains("http://127.0.0.1:1/<redacted>"),
            "{}",
            run.stdout
        );
    }
    // The POST fails (nothing listens on port 1): the warning names the host only.
    let run = run_cipug(&["update", "-vvv"], &env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("notification to http://127.0.0.1:1/<redacted> failed"),
        "{}",
        run.stderr
    );
    for out in [&run.stdout, &run.stderr] {
        assert!(!out.contains("s3cret"), "{out}");
    }
}

#[test]
fn a_non_ascii_pin_in_env_does_not_abort() {
    let registry = FakeRegistry::start();
    let a = &registry.addr;
    // The 12th byte of the digest falls inside a character.
    let env = format!(
        "SERVICE_APP_IMAGE_TAGGED={a}/good:latest\nSERVICE_APP_IMAGE_HASHED={a}/good@sha256:a{}\n",
        "é".repeat(40)
    );
    let root = plain_services(&[("svc", env.as_str())]);
    let run = run_cipug(
        &["check"],
        &[
            ("CIPUG_SERVICES_ROOT", root.path().to_str().unwrap()),
            ("CIPUG_INSECURE_REGISTRIES", a),
            ("CIPUG_CACHE_DURATION", "0"),
        ],
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("outdated"), "{}", run.stdout);
}
