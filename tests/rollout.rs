//! End to end: `cipug update --pins`, the same digests on every host. A canary updates and
//! says what it runs (`cipug check --format json`); another host gets exactly those digests
//! although the tag moved on since, through the usual pull, snapshot and gate; an entry the
//! pins do not name is left alone; a digest the registry no longer serves fails before
//! anything is touched. Real registry, btrfs, snapper, podman, podman-compose 1.0.3.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::fs;
use std::io::Write;
use std::process::Stdio;

use support::{Behaviour, Stack, COMPOSE};

fn env_of(stack: &Stack, name: &str) -> String {
    fs::read_to_string(stack.root.join(name).join(".env")).unwrap()
}

#[test]
fn hosts_get_the_canarys_digests_although_the_tag_moved_on() {
    let mut stack = Stack::new();
    let img = stack.image("demo/app");
    let other = stack.image("demo/other");
    let d1 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "1", Behaviour::Serve);
    stack
        .images
        .push(&stack.registry, "demo/other:latest", "1", Behaviour::Serve);
    for name in ["canary", "host"] {
        stack.service(
            name,
            COMPOSE,
            &format!("SERVICE_APP_IMAGE_TAGGED={img}\n"),
            true,
        );
    }
    stack.service(
        "elsewhere",
        COMPOSE,
        &format!("SERVICE_APP_IMAGE_TAGGED={other}\n"),
        true,
    );
    let no_cache = [("CIPUG_CACHE_DURATION", "0")];
    stack.cipug(&[], &no_cache).expect_code(0);
    assert_eq!(stack.pin("host"), Some(format!("{img}@{d1}")));

    // The canary updates to d2 and says what it runs.
    let d2 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "2", Behaviour::Serve);
    let canary = [
        ("CIPUG_CACHE_DURATION", "0"),
        ("CIPUG_SERVICES_FILTER", "canary"),
    ];
    stack.cipug(&[], &canary).expect_code(0);
    let check = stack.cipug(&["check", "--format", "json"], &canary);
    check.expect_code(0);
    assert!(check.stdout.contains(&d2), "{}", check.stdout);

    // The tag moves on; `elsewhere`'s tag too, but the pins do not name it.
    let d3 = stack
        .images
        .push(&stack.registry, "demo/app:latest", "3", Behaviour::Serve);
    stack
        .images
        .push(&stack.registry, "demo/other:latest", "2", Behaviour::Serve);
    let elsewhere_before = env_of(&stack, "elsewhere");
    let snapshots_before = stack.snapshots("host").len();
    let hosts = [("CIPUG_SERVICES_FILTER", "host,elsewhere")];
    let mut child = stack
        .cipug_command(&["update", "--pins", "-"], &hosts)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(check.stdout.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stack.pin("host"), Some(format!("{img}@{d2}")), "not {d3}");
    let running: Vec<(String, String)> = stack.containers("host").into_values().collect();
    assert_eq!(running, [("running".to_owned(), format!("{img}@{d2}"))]);
    assert_eq!(env_of(&stack, "elsewhere"), elsewhere_before, "left alone");
    assert!(stdout.contains("not in pins"), "{stdout}");
    assert_eq!(stack.snapshots("host").len(), snapshots_before + 1);

    // A digest the registry does not serve: exit 33, nothing touched.
    let gone = format!("{img}@sha256:{}", "0".repeat(64));
    let file = stack.root.join("pins.txt");
    fs::write(&file, format!("# tested elsewhere\n{img} {gone}\n")).unwrap();
    let before = env_of(&stack, "host");
    let run = stack.cipug(
        &["update", "--pins", file.to_str().unwrap()],
        &[("CIPUG_SERVICES_FILTER", "host")],
    );
    run.expect_code(33);
    assert_eq!(env_of(&stack, "host"), before);
    assert_eq!(
        stack.snapshots("host").len(),
        snapshots_before + 1,
        "no snapshot for a failed pull"
    );

    // A pins file that maps a reference to another image is refused before anything.
    fs::write(&file, format!("{img} {other}@{d1}\n")).unwrap();
    let run = stack.cipug(&["update", "--pins", file.to_str().unwrap()], &[]);
    run.expect_code(25);
    assert!(run.stderr.contains("is not an image of"), "{}", run.stderr);
}
