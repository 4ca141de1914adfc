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

    let run = stack.cipug(&["update", "--format", "json"], &env);
    run.expect_code(0);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let results = json["results"].as_array().unwrap();
    let of = |service: &str| results.iter().find(|r| r["service"] == service).unwrap();
    assert_eq!(of("c-plain")["outcome"], "updated");
    assert_eq!(of("c-careful")["outcome"], "waiting (47 h left)");
    assert!(of("c-careful")["adopt_after"].is_string());
    assert_eq!(hashed(&env_of(&plain)), Some(format!("{img}@{d2}")));
    assert_eq!(hashed(&env_of(&careful)), Some(pin1));
}
