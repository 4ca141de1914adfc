//! The native registry client against the reference registry (HTTP, TLS with a private CA,
//! htpasswd, token auth) — its answers must equal skopeo's — and against a fake registry
//! that fails in every way the protocol allows.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::fs;
use std::time::Instant;

use support::auth::{self, TokenServer};
use support::fake::{self, FakeRegistry};
use support::{plain_services, run_cipug, Behaviour, Images, Registry};

fn check_json(root: &std::path::Path, resolver: &str, env: &[(&str, &str)]) -> serde_json::Value {
    let root = root.display().to_string();
    let mut all = vec![
        ("CIPUG_SERVICES_ROOT", root.as_str()),
        ("CIPUG_RESOLVER", resolver),
        ("CIPUG_CACHE_DURATION", "0"),
    ];
    all.extend_from_slice(env);
    let run = run_cipug(&["check", "--format", "json"], &all);
    assert_eq!(run.code, 0, "{resolver}: {}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

/// `service -> latest` from a check report.
fn latest(report: &serde_json::Value) -> Vec<(String, String)> {
    report["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["images"][0]["latest"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn every_manifest_kind_resolves_like_skopeo() {
    let registry = Registry::start("");
    let images = Images::new();
    let (single, oci_digest) = images.layout("1", Behaviour::Serve);
    let pushed = images.copy(
        &single,
        &registry.addr,
        "kinds/oci:latest",
        &["--preserve-digests"],
    );
    assert_eq!(pushed, oci_digest);
    let schema2 = images.copy(
        &single,
        &registry.addr,
        "kinds/schema2:v1",
        &["--format", "v2s2"],
    );
    let index = images.index_layout("2");
    let oci_index = images.copy(
        &index,
        &registry.addr,
        "kinds/index:latest",
        &["--all", "--preserve-digests"],
    );
    let list = images.copy(
        &index,
        &registry.addr,
        "library-like/list:latest",
        &["--all", "--format", "v2s2"],
    );
    let r = &registry.addr;
    let root = plain_services(&[
        ("oci", &format!("SERVICE_APP_IMAGE_TAGGED={r}/kinds/oci\n")),
        (
            "schema2",
            &format!("SERVICE_APP_IMAGE_TAGGED={r}/kinds/schema2:v1\n"),
        ),
        (
            "index",
            &format!("SERVICE_APP_IMAGE_TAGGED={r}/kinds/index:latest\n"),
        ),
        (
            "list",
            &format!("SERVICE_APP_IMAGE_TAGGED={r}/library-like/list\n"),
        ),
        (
            "bydigest",
            &format!("SERVICE_APP_IMAGE_TAGGED={r}/kinds/oci@{oci_digest}\n"),
        ),
    ]);
    let env = [("CIPUG_INSECURE_REGISTRIES", r.as_str())];
    let native = latest(&check_json(root.path(), "native", &env));
    let skopeo = latest(&check_json(root.path(), "skopeo", &env));
    assert_eq!(native, skopeo);
    let expect = |name: &str, repo: &str, digest: &str| {
        assert!(
            native.contains(&(name.to_owned(), format!("{r}/{repo}@{digest}"))),
            "{name}: {native:?}"
        );
    };
    expect("oci", "kinds/oci", &oci_digest);
    expect("schema2", "kinds/schema2", &schema2);
    expect("index", "kinds/index", &oci_index);
    expect("list", "library-like/list", &list);
    expect("bydigest", "kinds/oci", &oci_digest);
    assert_eq!(
        std::collections::BTreeSet::from([&oci_digest, &schema2, &oci_index, &list]).len(),
        4,
        "four different digests"
    );
}

#[test]
fn tls_with_a_private_ca_from_certs_d() {
    let pki = auth::pki();
    let registry = Registry::start_with(
        &format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            pki.cert.display(),
            pki.key.display()
        ),
        "",
    );
    let images = Images::new();
    let (layout, digest) = images.layout("1", Behaviour::Serve);
    let certs = tempfile::tempdir().unwrap();
    let host_dir = certs.path().join(&registry.addr);
    fs::create_dir_all(&host_dir).unwrap();
    fs::copy(&pki.ca, host_dir.join("ca.crt")).unwrap();
    support::sh(
        "skopeo",
        &[
            "copy",
            "-q",
            "--preserve-digests",
            "--dest-cert-dir",
            host_dir.to_str().unwrap(),
            &format!("oci:{}:latest", layout.display()),
            &format!("docker://{}/tls/app:latest", registry.addr),
        ],
    );
    let root = plain_services(&[(
        "app",
        &format!("SERVICE_APP_IMAGE_TAGGED={}/tls/app\n", registry.addr),
    )]);
    let certs_dir = certs.path().display().to_string();
    let native = latest(&check_json(
        root.path(),
        "native",
        &[("CIPUG_REGISTRY_CERTS_DIR", &certs_dir)],
    ));
    assert_eq!(native[0].1, format!("{}/tls/app@{digest}", registry.addr));
    let skopeo = support::sh(
        "skopeo",
        &[
            "inspect",
            "--no-tags",
            "--cert-dir",
            host_dir.to_str().unwrap(),
            "--format",
            "{{.Name}}@{{.Digest}}",
            &format!("docker://{}/tls/app", registry.addr),
        ],
    );
    assert_eq!(native[0].1, skopeo.trim());
    // Without the CA the certificate is not trusted, and nothing is pinned.
    let run = run_cipug(
        &["check"],
        &[
            ("CIPUG_SERVICES_ROOT", root.path().to_str().unwrap()),
            ("CIPUG_REGISTRY_CERTS_DIR", "/nonexistent"),
            ("CIPUG_CACHE_DURATION", "0"),
        ],
    );
    assert_eq!(run.code, 30, "{}", run.stderr);
    assert!(
        run.stderr.to_lowercase().contains("certificate") || run.stderr.contains("UnknownIssuer"),
        "{}",
        run.stderr
    );
}

#[test]
fn basic_auth_with_credentials_from_the_auth_file() {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = auth::htpasswd(dir.path(), "alice", "s3cret-pw");
    let registry = Registry::start(&format!(
        "auth:\n  htpasswd:\n    realm: cipug-test\n    path: {}\n",
        htpasswd.display()
    ));
    let images = Images::new();
    let (layout, digest) = images.layout("1", Behaviour::Serve);
    images.copy(
        &layout,
        &registry.addr,
        "private/app:latest",
        &["--preserve-digests", "--dest-creds", "alice:s3cret-pw"],
    );
    let good = auth::auth_file(dir.path(), &registry.addr, "alice", "s3cret-pw");
    let root = plain_services(&[(
        "app",
        &format!("SERVICE_APP_IMAGE_TAGGED={}/private/app\n", registry.addr),
    )]);
    let good = good.display().to_string();
    let env = [
        ("CIPUG_INSECURE_REGISTRIES", registry.addr.as_str()),
        ("REGISTRY_AUTH_FILE", good.as_str()),
    ];
    let native = latest(&check_json(root.path(), "native", &env));
    assert_eq!(
        native[0].1,
        format!("{}/private/app@{digest}", registry.addr)
    );
    assert_eq!(native, latest(&check_json(root.path(), "skopeo", &env)));
    // A wrong password: refused with the registry's words, and the secret never shown.
    let wrong_dir = tempfile::tempdir().unwrap();
    let wrong = auth::auth_file(wrong_dir.path(), &registry.addr, "alice", "wrong-pw-value")
        .display()
        .to_string();
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
            ("CIPUG_SERVICES_ROOT", root.path().to_str().unwrap()),
            ("CIPUG_INSECURE_REGISTRIES", &registry.addr),
            ("REGISTRY_AUTH_FILE", &wrong),
            ("CIPUG_CACHE_DURATION", "0"),
        ],
    );
    assert_eq!(run.code, 30, "{}", run.stderr);
    assert!(run.stderr.contains("401 Unauthorized"), "{}", run.stderr);
    assert!(!run.stderr.contains("wrong-pw-value") && !run.stdout.contains("wrong-pw-value"));
    assert_eq!(
        fs::read_to_string(root.path().join("app/.env")).unwrap(),
        format!("SERVICE_APP_IMAGE_TAGGED={}/private/app\n", registry.addr)
    );
}

#[test]
fn token_auth_with_one_token_for_many_repositories() {
    let tokens = TokenServer::start();
    let registry = Registry::start(&tokens.registry_config());
    let images = Images::new();
    let (layout, digest) = images.layout("1", Behaviour::Serve);
    let repos = ["team/a", "team/b", "other/c"];
    for repo in repos {
        images.copy(
            &layout,
            &registry.addr,
            &format!("{repo}:latest"),
            &["--preserve-digests", "--dest-creds", "pusher:x"],
        );
    }
    let services: Vec<(String, String)> = repos
        .iter()
        .map(|repo| {
            (
                repo.replace('/', "-"),
                format!("SERVICE_APP_IMAGE_TAGGED={}/{repo}:latest\n", registry.addr),
            )
        })
        .collect();
    let services: Vec<(&str, &str)> = services
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let root = plain_services(&services);
    let env = [("CIPUG_INSECURE_REGISTRIES", registry.addr.as_str())];
    let before = tokens.requests.lock().unwrap().len();
    let native = latest(&check_json(root.path(), "native", &env));
    let asked: Vec<_> = tokens.requests.lock().unwrap()[before..].to_vec();
    for (_, pin) in &native {
        assert!(pin.ends_with(&digest), "{native:?}");
    }
    assert_eq!(
        asked.len(),
        1,
        "one token for all three repositories: {asked:?}"
    );
    assert_eq!(asked[0].scopes.len(), 3, "{asked:?}");
    assert!(
        !asked[0].with_credentials,
        "no credentials configured, none sent"
    );
    assert_eq!(native, latest(&check_json(root.path(), "skopeo", &env)));
}

#[test]
fn registry_faults_are_reported_and_pin_nothing() {
    let fake = FakeRegistry::start();
    let a = &fake.addr;
    let kinds = [
        "good", "noauth", "missing", "busy", "broken", "slow", "garbage", "nodigest", "liar",
        "huge",
    ];
    let envs: Vec<(String, String)> = kinds
        .iter()
        .map(|k| {
            (
                k.to_string(),
                format!("# {k}\nSERVICE_APP_IMAGE_TAGGED={a}/{k}:latest\n"),
            )
        })
        .collect();
    let mut services: Vec<(&str, &str)> =
        envs.iter().map(|(n, e)| (n.as_str(), e.as_str())).collect();
    // The same reference twice in one run is resolved once.
    let twin = format!("SERVICE_APP_IMAGE_TAGGED={a}/good:latest\n");
    services.push(("good-twin", &twin));
    let root = plain_services(&services);
    let started = Instant::now();
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
            ("CIPUG_SERVICES_ROOT", root.path().to_str().unwrap()),
            ("CIPUG_INSECURE_REGISTRIES", a),
            // The registry's whole share: long enough for the 429 wait and the 5xx
            // retries, shorter than the slow reply (4 s).
            ("CIPUG_REGISTRY_TIMEOUT", "3"),
            ("CIPUG_CACHE_DURATION", "0"),
        ],
    );
    let took = started.elapsed();
    assert_eq!(run.code, 30, "{}", run.stderr);
    let expect_error = |kind: &str, words: &str| {
        let line = run
            .stderr
            .lines()
            .find(|l| l.contains(&format!("/{kind}:latest")))
            .unwrap_or_else(|| panic!("no error for {kind}:\n{}", run.stderr));
        assert!(line.contains(words), "{kind}: {line}");
        assert_eq!(
            fs::read_to_string(root.path().join(kind).join(".env")).unwrap(),
            format!("# {kind}\nSERVICE_APP_IMAGE_TAGGED={a}/{kind}:latest\n"),
            "{kind} untouched"
        );
    };
    expect_error(
        "noauth",
        "401 Unauthorized without an authentication challenge",
    );
    expect_error(
        "missing",
        "404 Not Found (MANIFEST_UNKNOWN: manifest unknown)",
    );
    expect_error("broken", "500 Internal Server Error");
    expect_error("slow", "did not answer in time");
    expect_error("garbage", "invalid digest");
    expect_error("liar", "does not match");
    expect_error("huge", "manifest not read");
    let pinned = |kind: &str| fs::read_to_string(root.path().join(kind).join(".env")).unwrap();
    let pin = format!("SERVICE_APP_IMAGE_HASHED={a}/good@{}", fake::body_digest());
    assert!(pinned("good").contains(&pin), "{}", pinned("good"));
    assert!(pinned("good-twin").contains(&pin));
    assert!(
        pinned("busy").contains(&format!("{a}/busy@{}", fake::body_digest())),
        "429 then retried"
    );
    assert!(
        pinned("nodigest").contains(&format!("{a}/nodigest@{}", fake::body_digest())),
        "digest from the body"
    );
    // One HEAD for the twin references, and no GET after a HEAD that worked.
    assert_eq!(fake.count("HEAD /v2/good/"), 1);
    assert_eq!(fake.count("GET /v2/good/"), 0);
    assert_eq!(fake.count("GET /v2/busy/"), 0);
    assert_eq!(
        fake.count("HEAD /v2/busy/"),
        2,
        "retried once after Retry-After"
    );
    assert!(fake.count("HEAD /v2/broken/") >= 3, "5xx retried");
    assert!(took.as_secs() < 30, "took {took:?}");
}
