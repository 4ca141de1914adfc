//! End to end: a service in another folder that joins a provider's network namespace
//! (`network_mode: container:<provider's container_name>`, a VPN client behind a VPN
//! container) is started again in the provider's new namespace once the provider's update
//! passed its gate, and a dependent that then fails is reported with the provider named.
//! Without this, podman refuses to remove the provider ("has dependent containers which
//! must be removed before it"), and a dependent left running has no network. Real
//! registry, btrfs, snapper, podman with the newest podman-compose (1.0.3, Debian 12's, does
//! not start a `network_mode: container:` container at all).
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use support::{Behaviour, Flavour, Stack};

/// Keeps running, unless it ran before: then exits 1 (a dependent that breaks on restart).
const ONCE: &str = "[\"sh\", \"-c\", \"cat /data/once 2>/dev/null && exit 1; echo x > /data/once; trap 'exit 0' TERM; while true; do sleep 1; done\"]";

/// The `container inspect` objects of project `name`'s containers.
fn inspect(stack: &Stack, name: &str) -> Vec<serde_json::Value> {
    let ids = stack.container_ids(name);
    let mut args = vec!["container", "inspect"];
    args.extend(ids.iter().map(String::as_str));
    let out = support::sh_in(&stack.root, &stack.container_env(), "podman", &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A provider `<p>-vpn` whose container is named `<p>-tunnel`, and a dependent
/// `<p>-a-client` (before the provider in name order) joining its namespace; the provider's
/// image changes. Returns the run's outcome after the change, and the stack.
fn provider_changes(flavour: Flavour, p: &str, command: Option<&str>) -> (Stack, support::Run) {
    let mut stack = Stack::with_flavour(flavour);
    let vpn = stack.image("demo/vpn");
    let app = stack.image("demo/client");
    stack
        .images
        .push(&stack.registry, "demo/vpn:latest", "v1", Behaviour::Serve);
    stack.images.push(
        &stack.registry,
        "demo/client:latest",
        "c1",
        Behaviour::Serve,
    );
    let env = [("CIPUG_CACHE_DURATION", "0")];
    // podman-compose 1.1 and later put a project's containers in a pod of its own, and podman
    // lets no container join one of another pod (or of none).
    stack.service(
        &format!("{p}-vpn"),
        &format!("x-podman:\n  in_pod: false\nservices:\n  tunnel:\n    image: ${{SERVICE_APP_IMAGE_HASHED}}\n    container_name: {p}-tunnel\n"),
        &format!("SERVICE_APP_IMAGE_TAGGED={vpn}\n"),
        true,
    );
    stack.cipug(&[], &env).expect_code(0);
    let mut client = format!(
        "x-podman:\n  in_pod: false\nservices:\n  client:\n    image: ${{SERVICE_APP_IMAGE_HASHED}}\n    network_mode: container:{p}-tunnel\n    volumes:\n      - ./data:/data\n"
    );
    if let Some(command) = command {
        client.push_str(&format!("    command: {command}\n"));
    }
    stack.service(
        &format!("{p}-a-client"),
        &client,
        &format!("SERVICE_APP_IMAGE_TAGGED={app}\n"),
        true,
    );
    stack.cipug(&[], &env).expect_code(0);
    let joined = inspect(&stack, &format!("{p}-a-client"));
    assert_eq!(joined.len(), 1, "{joined:?}");
    assert_eq!(joined[0]["State"]["Status"], "running", "{joined:?}");
    let doctor = stack.cipug(&["doctor"], &env);
    assert!(
        doctor
            .stdout
            .contains(&format!("{p}-vpn -> {p}-a-client (joins its containers)")),
        "{}",
        doctor.stdout
    );
    stack
        .images
        .push(&stack.registry, "demo/vpn:latest", "v2", Behaviour::Serve);
    let run = stack.cipug(&[], &env);
    (stack, run)
}

fn a_dependent_rejoins_the_new_namespace(flavour: Flavour, p: &str) {
    let (stack, run) = provider_changes(flavour, p, None);
    run.expect_code(0);
    assert!(
        run.stdout.contains(&format!("restarted after {p}-vpn")),
        "{}",
        run.stdout
    );
    let tunnel = inspect(&stack, &format!("{p}-vpn"));
    assert_eq!(tunnel.len(), 1);
    let tunnel_id = tunnel[0]["Id"].as_str().unwrap();
    let client = inspect(&stack, &format!("{p}-a-client"));
    assert_eq!(client.len(), 1, "{client:?}");
    assert_eq!(client[0]["State"]["Status"], "running", "{client:?}");
    let mode = client[0]["HostConfig"]["NetworkMode"].as_str().unwrap();
    let target = mode.strip_prefix("container:").unwrap();
    assert!(
        tunnel_id.starts_with(target) || target == format!("{p}-tunnel"),
        "the client joins {target}, the tunnel now is {tunnel_id}"
    );
}

fn a_dependent_that_fails_names_its_provider(flavour: Flavour, p: &str) {
    let (stack, run) = provider_changes(flavour, p, Some(ONCE));
    run.expect_code(34);
    assert!(
        run.stderr.contains(&format!(
            "{p}-a-client: restarted after {p}-vpn, failed its gate"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains(&format!("restarted after {p}-vpn")),
        "{}",
        run.stdout
    );
    let tunnel = stack.containers(&format!("{p}-vpn"));
    let (state, image) = tunnel.values().next().unwrap();
    assert_eq!(state, "running", "the provider stays updated: {tunnel:?}");
    assert_eq!(Some(image.clone()), stack.pin(&format!("{p}-vpn")));
}

#[test]
fn a_dependent_in_another_folder_rejoins_the_new_namespace_with_the_newest_podman_compose() {
    a_dependent_rejoins_the_new_namespace(Flavour::PodmanComposeNewest, "xdnew");
}

#[test]
fn a_dependent_that_fails_after_its_providers_update_is_reported_with_the_provider() {
    a_dependent_that_fails_names_its_provider(Flavour::PodmanComposeNewest, "xdfail");
}
