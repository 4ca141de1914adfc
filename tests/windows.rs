//! End to end: update windows (`UPDATE_WINDOW`, per service in its `.env`) against a real
//! registry, btrfs and snapper: outside its window a service is resolved and reported, not
//! touched; `--now` overrides.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::fs;

use chrono::{DateTime, Duration, FixedOffset, Utc};
use support::{Behaviour, Stack, COMPOSE};

/// cipug's time zone in these tests, without summer time, and its offset.
const TZ: &str = "Asia/Kolkata";
const OFFSET: i32 = 5 * 3600 + 30 * 60;

/// The local time `from` minutes from now to `to` minutes from now, as a window.
fn window(from: i64, to: i64) -> (String, DateTime<FixedOffset>) {
    let now = Utc::now().with_timezone(&FixedOffset::east_opt(OFFSET).unwrap());
    let (start, end) = (now + Duration::minutes(from), now + Duration::minutes(to));
    let text = format!("{}-{}", start.format("%H:%M"), end.format("%H:%M"));
    (text, start)
}

#[test]
fn a_service_outside_its_window_is_reported_waiting_and_left_alone_until_now() {
    let mut stack = Stack::new();
    let img = stack.image("demo/window");
    let d1 = stack
        .images
        .push(&stack.registry, "demo/window:latest", "1", Behaviour::Serve);
    let pinned =
        format!("SERVICE_APP_IMAGE_TAGGED={img}:latest\nSERVICE_APP_IMAGE_HASHED={img}@{d1}\n");
    let (closed, opens) = window(120, 180);
    let (open, _) = window(-60, 60);
    // The setting's window is closed; the open service's own window is open now.
    let night = stack.service("w-night", COMPOSE, &pinned, true);
    let day = stack.service(
        "w-open",
        COMPOSE,
        &format!("{pinned}UPDATE_WINDOW=\"Mon-Sun {open}\"\n"),
        true,
    );
    let d2 = stack
        .images
        .push(&stack.registry, "demo/window:latest", "2", Behaviour::Serve);
    let env = [
        ("TZ", TZ),
        ("CIPUG_UPDATE_WINDOW", closed.as_str()),
        ("CIPUG_CACHE_DURATION", "0"),
        ("CIPUG_SERVICE_STOP_START", "false"),
        ("CIPUG_SERVICE_PULL", "false"),
    ];
    let before = fs::read(night.join(".env")).unwrap();
    let run = stack.cipug(&["update", "--format", "json"], &env);
    run.expect_code(0);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let results = json["results"].as_array().unwrap();
    let of = |service: &str| results.iter().find(|r| r["service"] == service).unwrap();
    let expected = format!("waiting for window (opens {})", opens.format("%a %H:%M"));
    assert_eq!(of("w-night")["outcome"], expected.as_str(), "{json}");
    assert_eq!(of("w-night")["new"], format!("{img}@{d2}"), "resolved");
    let when = DateTime::parse_from_rfc3339(of("w-night")["window_opens"].as_str().unwrap());
    assert_eq!(
        when.unwrap().format("%H:%M %z").to_string(),
        opens.format("%H:%M +0530").to_string()
    );
    assert!(
        run.stderr.contains("w-night: waiting for window (opens"),
        "{}",
        run.stderr
    );
    assert_eq!(
        fs::read(night.join(".env")).unwrap(),
        before,
        "byte-identical"
    );
    assert!(stack.snapshots("w-night").is_empty(), "no snapshot");
    assert_eq!(of("w-open")["outcome"], "updated");
    assert_eq!(stack.pin("w-open"), Some(format!("{img}@{d2}")));
    assert_eq!(stack.snapshots("w-open").len(), 1);
    let _ = day;

    // The table says so too; then `--now` updates it all the same.
    let run = stack.cipug(&["update"], &env);
    run.expect_code(0);
    assert!(run.stdout.contains(&expected), "{}", run.stdout);
    let run = stack.cipug(&["update", "--now"], &env);
    run.expect_code(0);
    assert_eq!(
        stack.pin("w-night"),
        Some(format!("{img}@{d2}")),
        "{}",
        run.stdout
    );
    assert_eq!(stack.snapshots("w-night").len(), 1);
}

#[test]
fn a_bad_update_window_names_the_setting_or_the_env_line() {
    let mut stack = Stack::new();
    let img = stack.image("demo/badwindow");
    let run = stack.cipug(&["update"], &[("CIPUG_UPDATE_WINDOW", "Sat 25:00-26:00")]);
    run.expect_code(25);
    assert!(
        run.stderr
            .contains("UPDATE_WINDOW: `25:00` is not a time of day"),
        "{}",
        run.stderr
    );
    stack.images.push(
        &stack.registry,
        "demo/badwindow:latest",
        "1",
        Behaviour::Serve,
    );
    let dir = stack.service(
        "w-bad",
        COMPOSE,
        &format!("SERVICE_APP_IMAGE_TAGGED={img}:latest\nUPDATE_WINDOW=weekends\n"),
        true,
    );
    let run = stack.cipug(&["update"], &[("CIPUG_SERVICE_STOP_START", "false")]);
    run.expect_code(32);
    let line = format!(
        "{}:2: UPDATE_WINDOW: `weekends`",
        dir.join(".env").display()
    );
    assert!(run.stderr.contains(&line), "{}", run.stderr);
    assert_eq!(stack.pin("w-bad"), None, "left alone");
}
