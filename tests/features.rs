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
