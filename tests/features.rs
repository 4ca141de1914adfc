//! End to end: the metrics file, the cool-down, newer version tags, tag updates and what
//! changed, against a real registry, btrfs, snapper and podman-compose.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::fs;

use support::{Behaviour, Stack, COMPOSE};

/// The samples of a metrics file, parsed with a Prometheus text-format parser.
fn scrape(path: &std::path::Path) -> Vec<prometheus_parse::Sample> {
    let text = fs::read_to_string(path).unwrap();
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .unwrap()
        .samples
}

/// The value of the sample `metric` whose labels include `labels`.
fn value(samples: &[prometheus_parse::Sample], metric: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<_> = samples
        .iter()
        .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect();
    assert_eq!(found.len(), 1, "{metric} {labels:?}: {found:?}");
    match found[0].value {
        prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Untyped(v) => v,
        ref other => panic!("{metric}: {other:?}"),
    }
}

#[test]
fn metrics_file_holds_what_the_run_did() {
    let mut stack = Stack::new();
    let img = stack.image("demo/metrics");
    stack.images.push(
        &stack.registry,
        "demo/metrics:latest",
        "1",
        Behaviour::Serve,
    );
    stack.service(
        "m-ok",
        COMPOSE,
        &format!("SERVICE_APP_IMAGE_TAGGED={img}\n"),
        true,
    );
    stack.service(
        "m-missing",
        COMPOSE,
        &format!("SERVICE_APP_IMAGE_TAGGED={img}:nosuchtag\n"),
        true,
    );
    let metrics = stack.work.path().join("textfile/cipug.prom");
    fs::create_dir_all(metrics.parent().unwrap()).unwrap();
    let metrics_arg = metrics.display().to_string();
    let env = [
        ("CIPUG_METRICS_FILE", metrics_arg.as_str()),
        ("CIPUG_SERVICE_STOP_START", "false"),
        ("CIPUG_SERVICE_PULL", "false"),
    ];
    let before = chrono::Utc::now().timestamp() as f64;
    stack.cipug(&[], &env).expect_code(30);
    let samples = scrape(&metrics);
    let ok = [("service", "m-ok"), ("entry", "APP")];
    let status = |labels: &[(&str, &str)], s: &str| {
        let mut l = labels.to_vec();
        l.push(("status", s));
        value(&samples, "cipug_entry_status", &l)
    };
    assert_eq!(status(&ok, "current"), 1.0);
    assert_eq!(status(&ok, "outdated"), 0.0);
    assert_eq!(status(&ok, "waiting"), 0.0);
    assert_eq!(
        status(&[("service", "m-missing"), ("entry", "APP")], "error"),
        1.0,
        "a service that failed to resolve"
    );
    assert_eq!(value(&samples, "cipug_entry_newer_available", &ok), 0.0);
    assert_eq!(value(&samples, "cipug_last_run_exit_code", &[]), 30.0);
    let ran = value(&samples, "cipug_last_run_timestamp_seconds", &[]);
    assert!(ran >= before && ran < before + 120.0, "{ran} {before}");
    assert_eq!(
        value(&samples, "cipug_updates_total", &[("outcome", "updated")]),
        1.0
    );
    let age = value(
        &samples,
        "cipug_snapshot_age_seconds",
        &[("service", "m-ok")],
    );
    assert!((0.0..120.0).contains(&age), "{age}");
    assert!(
        samples
            .iter()
            .all(|s| s.labels.get("service") != Some("m-missing")
                || s.metric != "cipug_snapshot_age_seconds"),
        "no snapshot of m-missing yet"
    );
    // `check` writes it too, with its own exit code.
    stack
        .cipug(&["check"], &[env[0], ("CIPUG_SERVICES_FILTER", "m-ok")])
        .expect_code(0);
    let samples = scrape(&metrics);
    assert_eq!(value(&samples, "cipug_last_run_exit_code", &[]), 0.0);
    assert_eq!(status(&ok, "current"), 1.0);
    let mode = fs::metadata(&metrics).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o644
    );
}

fn hashed(env: &str) -> Option<String> {
    env.lines()
        .find_map(|l| l.strip_prefix("SERVICE_APP_IMAGE_HASHED="))
        .map(str::to_owned)
}

/// Sets back the first-seen time of every digest behind `tag` by `hours`.
fn age_first_seen(stack: &Stack, tag: &str, hours: f64) {
    let path = stack.work.path().join("state/first-seen.json");
    let mut times: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    for (_, time) in times[tag].as_object_mut().unwrap() {
        *time = serde_json::json!(time.as_f64().unwrap() - hours * 3600.0);
    }
    fs::write(&path, times.to_string()).unwrap();
}

#[test]
fn a_digest_younger_than_min_age_waits_then_is_adopted() {
    let mut stack = Stack::new();
    let img = stack.image("demo/cool");
    let d1 = stack
        .images
        .push(&stack.registry, "demo/cool:latest", "1", Behaviour::Serve);
    let tagged = format!("{img}:latest");
    let plain = stack.service(
        "c-plain",
        COMPOSE,
        &format!("SERVICE_APP_IMAGE_TAGGED={tagged}\n"),
        true,
    );
    let careful = stack.service(
        "c-careful",
        COMPOSE,
        &format!("SERVICE_APP_IMAGE_TAGGED={tagged}\nSERVICE_APP_IMAGE_MIN_AGE=72\n"),
        true,
    );
    let env = [
        ("CIPUG_MIN_AGE", "24"),
        ("CIPUG_CACHE_DURATION", "0"),
        ("CIPUG_SERVICE_STOP_START", "false"),
        ("CIPUG_SERVICE_PULL", "false"),
    ];
    // Unpinned entries are pinned at once: there is nothing else to run.
    stack.cipug(&[], &env).expect_code(0);
    let pin1 = format!("{img}@{d1}");
    let env_of = |dir: &std::path::Path| fs::read_to_string(dir.join(".env")).unwrap();
    assert_eq!(hashed(&env_of(&plain)), Some(pin1.clone()));

    let d2 = stack
        .images
        .push(&stack.registry, "demo/cool:latest", "2", Behaviour::Serve);
    let run = stack.cipug(&[], &env);
    run.expect_code(0);
    assert!(run.stdout.contains("waiting (24 h left)"), "{}", run.stdout);
    assert!(run.stdout.contains("waiting (72 h left)"), "{}", run.stdout);
    assert_eq!(hashed(&env_of(&plain)), Some(pin1.clone()), "not adopted");
    assert_eq!(
        stack.snapshots("c-plain").len(),
        1,
        "no snapshot for a waiting digest"
    );

    // 25 hours later (the state file says so): the plain service takes it, the careful one
    // waits 47 more hours.
    age_first_seen(&stack, &tagged, 25.0);
    let run = stack.cipug(&["check", "--format", "json"], &env);
    run.expect_code(0);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let careful_json = &json["services"][0]["images"][0];
    assert_eq!(json["services"][0]["name"], "c-careful");
    assert_eq!(careful_json["status"], "waiting", "{json}");
    let after = chrono::DateTime::parse_from_rfc3339(careful_json["adopt_after"].as_str().unwrap())
        .unwrap();
    let left = (after.timestamp() - chrono::Utc::now().timestamp()) as f64 / 3600.0;
    assert!((46.9..47.1).contains(&left), "{left}");
    assert_eq!(json["services"][1]["images"][0]["status"], "outdated");
    assert!(json["services"][1]["images"][0]
        .get("adopt_after")
        .is_none());

    let metrics = stack.work.path().join("cipug.prom");
    let metrics_arg = metrics.display().to_string();
    let mut with_metrics = env.to_vec();
    with_metrics.push(("CIPUG_METRICS_FILE", metrics_arg.as_str()));
    let run = stack.cipug(&["update", "--format", "json"], &with_metrics);
    run.expect_code(0);
    let samples = scrape(&metrics);
    let waiting = |service: &str| {
        let labels = [
            ("service", service),
            ("entry", "APP"),
            ("status", "waiting"),
        ];
        value(&samples, "cipug_entry_status", &labels)
    };
    assert_eq!((waiting("c-careful"), waiting("c-plain")), (1.0, 0.0));
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let results = json["results"].as_array().unwrap();
    let of = |service: &str| results.iter().find(|r| r["service"] == service).unwrap();
    assert_eq!(of("c-plain")["outcome"], "updated");
    assert_eq!(of("c-careful")["outcome"], "waiting (47 h left)");
    assert!(of("c-careful")["adopt_after"].is_string());
    assert_eq!(hashed(&env_of(&plain)), Some(format!("{img}@{d2}")));
    assert_eq!(hashed(&env_of(&careful)), Some(pin1));
}

/// Tags the manifest behind `from` in `repo` as each of `tags`, with one PUT each.
fn tag_as(stack: &Stack, repo: &str, from: &str, tags: &[String]) {
    let base = format!("http://{}/v2/{repo}/manifests", stack.registry.addr);
    let oci = "application/vnd.oci.image.manifest.v1+json";
    let manifest = ureq::get(format!("{base}/{from}"))
        .header("Accept", oci)
        .call()
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap();
    for tag in tags {
        ureq::put(format!("{base}/{tag}"))
            .header("Content-Type", oci)
            .send(&manifest[..])
            .unwrap();
    }
}

fn strings(tags: &[&str]) -> Vec<String> {
    tags.iter().map(|t| (*t).to_owned()).collect()
}

#[test]
fn newer_versions_from_a_paginated_tag_list() {
    let mut stack = Stack::new();
    let d = stack
        .images
        .push(&stack.registry, "demo/ver:1.2.3", "1", Behaviour::Serve);
    // 150 tags that sort before the interesting ones: the versions are on the second page.
    let mut tags: Vec<String> = (0..150).map(|i| format!("0.1.{i}")).collect();
    tags.extend(strings(&[
        "1.2.4",
        "1.2.5",
        "1.2.6-rc1",
        "1.3.0",
        "1.3.1",
        "1.4.0-beta1",
        "2.0.0",
        "3.0.0-rc1",
        "1.2.4-alpine",
        "1.2.9-alpine",
        "1.3.5-alpine",
        "2",
        "latest",
    ]));
    tag_as(&stack, "demo/ver", "1.2.3", &tags);
    // Through a proxy that pages tag lists 100 at a time (the reference registry sends the
    // whole list): the first page has no version newer than 1.2.3.
    let proxy = support::paging::PagingProxy::start(&stack.registry.addr);
    let img = format!("{}/demo/ver", proxy.addr);
    let insecure = format!("{},{}", stack.registry.addr, proxy.addr);
    let pin = format!("{img}@{d}");
    stack.service(
        "n-ver",
        COMPOSE,
        &format!(
            "SERVICE_APP_IMAGE_TAGGED={img}:1.2.3\nSERVICE_APP_IMAGE_HASHED={pin}\n\
             SERVICE_ALPINE_IMAGE_TAGGED={img}:1.2.4-alpine\nSERVICE_ALPINE_IMAGE_HASHED={pin}\n\
             SERVICE_RC_IMAGE_TAGGED={img}:1.2.6-rc1\nSERVICE_RC_IMAGE_HASHED={pin}\n\
             SERVICE_LATEST_IMAGE_TAGGED={img}:latest\nSERVICE_LATEST_IMAGE_HASHED={pin}\n"
        ),
        false,
    );
    let metrics = stack.work.path().join("cipug.prom");
    let metrics_arg = metrics.display().to_string();
    let env = [
        ("CIPUG_METRICS_FILE", metrics_arg.as_str()),
        ("CIPUG_INSECURE_REGISTRIES", insecure.as_str()),
    ];
    let run = stack.cipug(&["check", "--format", "json"], &env);
    run.expect_code(0);
    let pages: Vec<String> = proxy
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.contains("/tags/list"))
        .cloned()
        .collect();
    assert_eq!(
        pages,
        [
            "GET /v2/demo/ver/tags/list?n=100 HTTP/1.1",
            "GET /v2/demo/ver/tags/list?last=0.1.53&n=100 HTTP/1.1"
        ],
        "one list of two pages for four entries of one repository"
    );
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let images = &json["services"][0]["images"];
    let newer = |i: usize| images[i]["newer"].clone();
    assert_eq!(
        newer(0),
        serde_json::json!({"patch": "1.2.5", "minor": "1.3.1", "major": "2.0.0"}),
        "pre-releases are not chosen for a release"
    );
    assert_eq!(
        newer(1),
        serde_json::json!({"patch": "1.2.9-alpine", "minor": "1.3.5-alpine", "major": null})
    );
    assert_eq!(
        newer(2),
        serde_json::json!({"patch": null, "minor": "1.4.0-beta1", "major": "3.0.0-rc1"}),
        "a pre-release may move to later pre-releases"
    );
    assert!(images[3].get("newer").is_none(), "latest is no version");
    assert_eq!(images[0]["status"], "current");

    let table = stack.cipug(&["check"], &env[1..]);
    table.expect_code(0);
    assert!(
        table
            .stdout
            .contains("patch 1.2.5, minor 1.3.1, major 2.0.0"),
        "{}",
        table.stdout
    );
    let samples = scrape(&metrics);
    let newer_of = |entry: &str| {
        value(
            &samples,
            "cipug_entry_newer_available",
            &[("service", "n-ver"), ("entry", entry)],
        )
    };
    assert_eq!((newer_of("APP"), newer_of("LATEST")), (1.0, 0.0));
}

fn tagged_line(env: &str) -> &str {
    env.lines()
        .find(|l| l.contains("SERVICE_APP_IMAGE_TAGGED="))
        .unwrap()
}

#[test]
fn tag_update_moves_to_the_newest_patch_and_rolls_back_with_the_pin() {
    let mut stack = Stack::new();
    let ok_img = stack.image("demo/tu-ok");
    let bad_img = stack.image("demo/tu-bad");
    let ok1 = stack
        .images
        .push(&stack.registry, "demo/tu-ok:1.2.3", "1", Behaviour::Serve);
    let ok5 = stack
        .images
        .push(&stack.registry, "demo/tu-ok:1.2.5", "5", Behaviour::Serve);
    tag_as(
        &stack,
        "demo/tu-ok",
        "1.2.3",
        &strings(&["1.2.4", "1.2.6-rc1"]),
    );
    tag_as(&stack, "demo/tu-ok", "1.2.5", &strings(&["1.3.0"]));
    let bad1 = stack
        .images
        .push(&stack.registry, "demo/tu-bad:1.2.3", "1", Behaviour::Serve);
    let bad5 = stack
        .images
        .push(&stack.registry, "demo/tu-bad:1.2.5", "5", Behaviour::Crash);
    // The tag sits in a quoted value after a variable: only the tag changes.
    let ok = stack.service(
        "t-ok",
        COMPOSE,
        &format!(
            "REG={}\n# keep me\nSERVICE_APP_IMAGE_TAGGED=\"${{REG}}/demo/tu-ok:1.2.3\" # pinned by cipug\nSERVICE_APP_IMAGE_HASHED={ok_img}@{ok1}\n",
            stack.registry.addr
        ),
        true,
    );
    let bad = stack.service(
        "t-bad",
        COMPOSE,
        &format!(
            "SERVICE_APP_IMAGE_TAGGED={bad_img}:1.2.3\nSERVICE_APP_IMAGE_HASHED={bad_img}@{bad1}\n"
        ),
        true,
    );
    let bad_before = fs::read_to_string(bad.join(".env")).unwrap();
    let recorded = stack.work.path().join("notified.txt");
    let command = format!(
        "sh -c 'echo \"$CIPUG_NOTIFY_OUTCOME|$CIPUG_NOTIFY_SERVICE|$CIPUG_NOTIFY_MESSAGE\" >> {}'",
        recorded.display()
    );
    let run = stack.cipug(
        &[],
        &[
            ("CIPUG_TAG_UPDATE", "patch"),
            ("CIPUG_HEALTH_TIMEOUT", "20"),
            ("CIPUG_NOTIFY_COMMAND", &command),
        ],
    );
    run.expect_code(34);

    let ok_env = fs::read_to_string(ok.join(".env")).unwrap();
    assert_eq!(
        tagged_line(&ok_env),
        "SERVICE_APP_IMAGE_TAGGED=\"${REG}/demo/tu-ok:1.2.5\" # pinned by cipug",
        "{ok_env}"
    );
    assert!(ok_env.starts_with(&format!("REG={}\n# keep me\n", stack.registry.addr)));
    assert_eq!(hashed(&ok_env), Some(format!("{ok_img}@{ok5}")));
    let (state, image) = stack.containers("t-ok").into_values().next().unwrap();
    assert_eq!(
        (state.as_str(), image),
        ("running", format!("{ok_img}@{ok5}"))
    );
    assert!(run.stdout.contains("tag 1.2.3 -> 1.2.5"), "{}", run.stdout);

    // The failing 1.2.5 was rolled back: the old tag with the old pin, byte for byte.
    assert_eq!(fs::read_to_string(bad.join(".env")).unwrap(), bad_before);
    let (state, image) = stack.containers("t-bad").into_values().next().unwrap();
    assert_eq!(
        (state.as_str(), image),
        ("running", format!("{bad_img}@{bad1}"))
    );
    assert!(run
        .stderr
        .contains(&format!("rolled back t-bad to {bad_img}@{bad1}")));

    let notified = fs::read_to_string(&recorded).unwrap();
    assert!(
        notified.contains("updated|t-ok|APP: ")
            && notified.contains("tag 1.2.3 -> 1.2.5, newer: minor 1.3.0"),
        "{notified}"
    );
    assert!(notified.contains("rolled back|t-bad|"), "{notified}");
    assert!(
        notified.contains("newer version|t-ok|APP: ")
            && notified.contains("newer: patch 1.2.5, minor 1.3.0"),
        "{notified}"
    );

    // The next run holds the failed 1.2.5 back and does not announce the same tags again.
    let run = stack.cipug(
        &[],
        &[
            ("CIPUG_TAG_UPDATE", "patch"),
            ("CIPUG_NOTIFY_COMMAND", &command),
        ],
    );
    run.expect_code(0);
    assert!(run.stdout.contains("held back"), "{}", run.stdout);
    assert!(!run.stdout.contains(&bad5[7..19]) || run.stdout.contains("held back"));
    assert_eq!(fs::read_to_string(bad.join(".env")).unwrap(), bad_before);
    let again = fs::read_to_string(&recorded).unwrap();
    assert_eq!(
        again.matches("newer version|t-ok").count(),
        1,
        "announced once: {again}"
    );
}

/// Pushes `demo/wc:latest` with OCI version and source labels; returns its digest.
fn labelled(stack: &Stack, version: &str) -> String {
    let (layout, _) = stack.images.layout_labelled(
        version,
        Behaviour::Serve,
        &[
            ("org.opencontainers.image.version", version),
            ("org.opencontainers.image.source", "https://example.org/app"),
        ],
    );
    stack.images.copy(
        &layout,
        &stack.registry.addr,
        "demo/wc:latest",
        &["--preserve-digests"],
    )
}

/// Pushes `demo/multi:latest` as an index of two platforms; returns its digest.
fn multi(stack: &Stack, amd: &str, arm: &str) -> String {
    let layout = stack.images.index_of(amd, arm);
    stack.images.copy(
        &layout,
        &stack.registry.addr,
        "demo/multi:latest",
        &["--all", "--preserve-digests"],
    )
}

#[test]
fn what_changed_shows_versions_source_and_platform() {
    let mut stack = Stack::new();
    let img = stack.image("demo/wc");
    let multi_img = stack.image("demo/multi");
    let d1 = labelled(&stack, "29.0.1");
    let m1 = multi(&stack, "1", "1-arm64");
    stack.service(
        "w-app",
        COMPOSE,
        &format!("SERVICE_APP_IMAGE_TAGGED={img}\nSERVICE_APP_IMAGE_HASHED={img}@{d1}\n"),
        true,
    );
    stack.service(
        "w-multi",
        COMPOSE,
        &format!(
            "SERVICE_APP_IMAGE_TAGGED={multi_img}\nSERVICE_APP_IMAGE_HASHED={multi_img}@{m1}\n"
        ),
        true,
    );
    let d2 = labelled(&stack, "29.0.2");
    // Only the arm64 image of the index changes.
    let m2 = multi(&stack, "1", "2-arm64");
    assert_ne!(m1, m2);
    let recorded = stack.work.path().join("notified.txt");
    let command = format!(
        "sh -c 'echo \"$CIPUG_NOTIFY_SERVICE|$CIPUG_NOTIFY_MESSAGE\" >> {}'",
        recorded.display()
    );
    let env = [
        ("CIPUG_NOTIFY_COMMAND", command.as_str()),
        ("CIPUG_SERVICE_STOP_START", "false"),
        ("CIPUG_SERVICE_PULL", "false"),
    ];
    let run = stack.cipug(&[], &env);
    run.expect_code(0);
    let app_row = run.stdout.lines().find(|l| l.starts_with("w-app")).unwrap();
    assert!(
        app_row.contains("29.0.1 -> 29.0.2") && app_row.contains("https://example.org/app"),
        "{}",
        run.stdout
    );
    let multi_row = run
        .stdout
        .lines()
        .find(|l| l.starts_with("w-multi"))
        .unwrap();
    assert!(
        multi_row.contains("linux/amd64 image unchanged"),
        "{}",
        run.stdout
    );
    assert!(
        hashed(&fs::read_to_string(stack.root.join("w-app/.env")).unwrap())
            .unwrap()
            .ends_with(&d2)
    );

    let notified = fs::read_to_string(&recorded).unwrap();
    assert!(
        notified.contains("w-app|APP: ")
            && notified.contains("29.0.1 -> 29.0.2, https://example.org/app"),
        "{notified}"
    );
    assert!(
        notified.contains("linux/amd64 image unchanged"),
        "{notified}"
    );

    let history = stack.cipug(&["history", "w-app"], &[]);
    history.expect_code(0);
    assert!(
        history
            .stdout
            .contains("29.0.1 -> 29.0.2, https://example.org/app"),
        "{}",
        history.stdout
    );
}

#[test]
fn a_tag_list_the_registry_refuses_is_a_warning() {
    // The fake registry answers manifests but 404 to tag lists.
    let fake = support::fake::FakeRegistry::start();
    let a = fake.addr.as_str();
    let root = support::plain_services(&[(
        "f-app",
        &format!("SERVICE_APP_IMAGE_TAGGED={a}/good:1.2.3\n"),
    )]);
    let run = support::run_cipug(
        &["check", "--format", "json"],
        &[
            ("CIPUG_SERVICES_ROOT", root.path().to_str().unwrap()),
            ("CIPUG_INSECURE_REGISTRIES", a),
        ],
    );
    run.expect_code(0);
    assert!(
        run.stderr.contains(&format!("{a}/good: tags not listed"))
            && run.stderr.contains("404 Not Found"),
        "{}",
        run.stderr
    );
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let image = &json["services"][0]["images"][0];
    assert_eq!(image["status"], "unpinned");
    assert!(image.get("newer").is_none(), "{image}");
    assert_eq!(fake.count("GET /v2/good/tags/list?n=100"), 1);
}

/// Sets when each digest was first seen behind `tag` to `hours` ago (a fault injection: the
/// file is cipug's own, and days cannot pass in a test).
fn first_seen_ago(stack: &Stack, tag: &str, hours: &[(&str, f64)]) {
    let path = stack.work.path().join("state/first-seen.json");
    let mut times: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let now = chrono::Utc::now().timestamp() as f64;
    for (digest, ago) in hours {
        assert!(
            times[tag].get(*digest).is_some(),
            "{digest} seen behind {tag}"
        );
        times[tag][*digest] = serde_json::json!(now - ago * 3600.0);
    }
    fs::write(&path, times.to_string()).unwrap();
}

#[test]
fn a_tag_that_moves_faster_than_min_age_adopts_its_newest_old_enough_digest() {
    let mut stack = Stack::new();
    let img = stack.image("demo/night");
    let push = |stack: &Stack, v: &str| {
        stack
            .images
            .push(&stack.registry, "demo/night:nightly", v, Behaviour::Serve)
    };
    let p = push(&stack, "p");
    let tagged = format!("{img}:nightly");
    let svc = stack.service(
        "c-night",
        COMPOSE,
        &format!("SERVICE_APP_IMAGE_TAGGED={tagged}\nSERVICE_APP_IMAGE_MIN_AGE=24\n"),
        true,
    );
    let env = [
        ("CIPUG_CACHE_DURATION", "0"),
        ("CIPUG_HEALTH_TIMEOUT", "10"),
    ];
    stack.cipug(&[], &env).expect_code(0);
    let pin = |d: &str| format!("{img}@{d}");
    let short = |d: &str| d[..19].to_owned();
    assert_eq!(stack.pin("c-night"), Some(pin(&p)));
    // The tag moves every few hours: each run sees a digest younger than a day and waits.
    let mut pushed = Vec::new();
    for v in ["a", "b", "c"] {
        pushed.push(push(&stack, v));
        let run = stack.cipug(&[], &env);
        run.expect_code(0);
        assert!(run.stdout.contains("waiting (24 h left)"), "{}", run.stdout);
    }
    let [a, b, c] = [0, 1, 2].map(|i| pushed[i].clone());
    let [a, b, c] = [&a, &b, &c];
    first_seen_ago(
        &stack,
        &tagged,
        &[(&p, 48.0), (a, 26.0), (b, 10.0), (c, 3.0)],
    );

    // A is a day old and newer than the pin: adopted, though the tag has moved on to C.
    let run = stack.cipug(&["update", "--format", "json"], &env);
    run.expect_code(0);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let row = &json["results"][0];
    assert_eq!(row["outcome"], "updated (older digest)", "{json}");
    assert_eq!(row["new"], pin(a), "{json}");
    assert_eq!(row["adopted_older"]["newest"], pin(c), "{json}");
    let seen = row["adopted_older"]["seen_hours"].as_f64().unwrap();
    assert!((25.9..26.2).contains(&seen), "{seen}");
    let said = format!(
        "c-night: APP adopting {} seen 26 h ago; the tag moved on to {} 3 h ago",
        short(a),
        short(c)
    );
    assert!(run.stderr.contains(&said), "{said}\n{}", run.stderr);
    assert_eq!(stack.pin("c-night"), Some(pin(a)));
    support::wait_for("A to start", 20, || svc.join("data/started-a").exists());
    assert!(!svc.join("data/started-c").exists(), "C never ran");

    // A day later for C too: the tag's newest, adopted as usual.
    first_seen_ago(&stack, &tagged, &[(c, 25.0)]);
    let run = stack.cipug(&[], &env);
    run.expect_code(0);
    assert!(run.stdout.contains("updated"), "{}", run.stdout);
    assert!(!run.stdout.contains("older digest"), "{}", run.stdout);
    assert_eq!(stack.pin("c-night"), Some(pin(c)));
    support::wait_for("C to start", 20, || svc.join("data/started-c").exists());

    // Days later: D and E are old enough, F is not; E is gone from the registry: D, the
    // next older one.
    for v in ["d", "e", "f"] {
        pushed.push(push(&stack, v));
        stack.cipug(&[], &env).expect_code(0);
    }
    let [d, e, f] = [3, 4, 5].map(|i| pushed[i].clone());
    let [d, e, f] = [&d, &e, &f];
    first_seen_ago(
        &stack,
        &tagged,
        &[(&p, 60.0), (a, 50.0), (b, 45.0), (c, 40.0)],
    );
    first_seen_ago(&stack, &tagged, &[(d, 30.0), (e, 26.0), (f, 1.0)]);
    let gone = format!("docker://{}", pin(e));
    support::sh("skopeo", &["delete", "--tls-verify=false", &gone]);
    let run = stack.cipug(&[], &env);
    run.expect_code(0);
    assert!(
        run.stdout.contains("updated (older digest)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains(&format!("{} is old enough but not served", pin(e))),
        "{}",
        run.stderr
    );
    assert_eq!(stack.pin("c-night"), Some(pin(d)));

    // Nothing old enough is newer than D but E, which is gone: F waits.
    let run = stack.cipug(&[], &env);
    run.expect_code(0);
    assert!(run.stdout.contains("waiting (23 h left)"), "{}", run.stdout);
    assert_eq!(stack.pin("c-night"), Some(pin(d)));
}
