//! Adopt against compose files (tests/corpus, described in tests/corpus/README.md; more with
//! `CIPUG_CORPUS_EXTRA`, see there), checked with the compose tools themselves: for each
//! file, in a temporary folder,
//! 1. adopt is lossless: only the replaced `image:` values change, the `.env` keeps every
//!    byte and gains only SERVICE_*_IMAGE_* lines;
//! 2. the adopted project resolves (`config`) to the original's, once each HASHED is set to
//!    its TAGGED value (the tag standing in for the digest), with podman-compose and
//!    docker-compose 1.29;
//! 3. moving one HASHED changes the resolved config of exactly the services cipug's model
//!    says use it (`services_using`), the ones cipug recreates.
//!
//! SERVICE_*_IMAGE_* variables in a container's `environment` are left out of the
//! comparisons: a service with `env_file: .env` gets every `.env` line, pins included, and
//! cipug does not recreate it when only another service's pin moves (see FINDINGS below).
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use cipug::formats::compose::adoption::{adopt, Adoption};
use cipug::formats::compose::services::ComposeServices;
use serde_json::Value;

/// A compose file or a tool's `config` output, read by cipug's YAML reader.
fn yaml(text: &str) -> Value {
    cipug::formats::compose::yaml::load(text).unwrap_or(Value::Null)
}

const PODMAN_COMPOSE: &str = "/opt/cipug-test/venv/bin/podman-compose";
const DOCKER_COMPOSE: &str = "/usr/bin/docker-compose";

/// Files adopt refuses, with the reason it must give.
const REFUSED: &[(&str, &str)] = &[(
    // `${VERSION}` without a default and no .env: compose would take it from its environment.
    "zammad",
    "variable `VERSION` is not set",
)];

/// Files a compose tool itself refuses as shipped (and so, alike, once adopted).
const TOOL_REFUSES: &[(&str, &str)] = &[
    // Its example .env leaves UPLOAD_LOCATION a placeholder, not a path.
    ("immich", "Podman"),
    ("immich", "Docker"),
    ("awesome-compose-prometheus-grafana", "Docker"),
    ("frappe-docker", "Docker"),
    // docker-compose 1.29 does not know a top-level `name:`.
    ("env-file-everywhere", "Docker"),
];

/// Files whose adopted project cipug's model cannot read, with its error: known limits
/// (none now; two `<<:` keys in one mapping were one, until cipug read YAML itself).
const MODEL_REFUSES: &[(&str, &str)] = &[];

struct Case {
    project: String,
    compose_name: String,
    compose: String,
    env: String,
}

/// The corpus folders: `tests/corpus`, and those `CIPUG_CORPUS_EXTRA` names (`:`-separated),
/// for compose files kept outside the repository.
fn roots() -> Vec<std::path::PathBuf> {
    let mut roots = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")];
    if let Ok(extra) = std::env::var("CIPUG_CORPUS_EXTRA") {
        roots.extend(extra.split(':').filter(|p| !p.is_empty()).map(Into::into));
    }
    roots
}

fn corpus() -> Vec<Case> {
    let mut cases = Vec::new();
    let dirs = roots()
        .into_iter()
        .flat_map(|root| fs::read_dir(&root).unwrap().collect::<Vec<_>>());
    for dir in dirs {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != ".env")
            .collect();
        names.sort();
        assert_eq!(names.len(), 1, "{}: one compose file", dir.display());
        let compose_name = names.remove(0);
        cases.push(Case {
            project: dir.file_name().unwrap().to_string_lossy().into_owned(),
            compose: fs::read_to_string(dir.join(&compose_name)).unwrap(),
            env: fs::read_to_string(dir.join(".env")).unwrap_or_default(),
            compose_name,
        });
    }
    // The longest first, so that the threads end together.
    cases.sort_by_key(|c| std::cmp::Reverse(c.compose.len()));
    cases
}

/// Every line that changed is an adopted `image:` line, where only the value became
/// `${SERVICE_<X>_IMAGE_HASHED}`; the env keeps its bytes and gains pin lines only.
fn assert_lossless(case: &Case, got: &Adoption) {
    let before: Vec<&str> = case.compose.split_inclusive('\n').collect();
    let after: Vec<&str> = got.compose.split_inclusive('\n').collect();
    assert_eq!(before.len(), after.len(), "{}", case.project);
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        if b == a {
            continue;
        }
        let entry = got
            .entries
            .iter()
            .find(|e| e.line == i + 1)
            .unwrap_or_else(|| panic!("{}: line {} changed", case.project, i + 1));
        let prefix = b.bytes().zip(a.bytes()).take_while(|(x, y)| x == y).count();
        let suffix = b
            .bytes()
            .rev()
            .zip(a.bytes().rev())
            .take_while(|(x, y)| x == y)
            .count()
            .min(b.len() - prefix)
            .min(a.len() - prefix);
        let new = &a[prefix..a.len() - suffix];
        let hashed = format!("${{SERVICE_{}_IMAGE_HASHED}}", entry.entry);
        assert!(
            hashed.contains(new.trim_matches('"')) && b.contains("image"),
            "{}: line {}: {b:?} became {a:?}",
            case.project,
            i + 1
        );
    }
    assert!(got.env.starts_with(&case.env), "{}", case.project);
    for line in got.env[case.env.len()..].lines().filter(|l| !l.is_empty()) {
        let key = line.split('=').next().unwrap();
        assert!(
            key.starts_with("SERVICE_") && key.contains("_IMAGE_"),
            "{}: added {line}",
            case.project
        );
    }
}

/// The files compose needs to find: env files and build contexts, made empty.
fn prepare(dir: &Path, compose: &str) {
    let mut value: Value = yaml(compose);
    let Some(Value::Object(services)) = value.get_mut("services") else {
        return;
    };
    for service in services.values_mut() {
        let env_files = match service.get("env_file") {
            Some(Value::String(f)) => vec![f.clone()],
            Some(Value::Array(s)) => s
                .iter()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        for file in env_files.iter().filter(|f| *f != ".env") {
            let path = dir.join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, "").unwrap();
        }
        let context = match service.get("build") {
            Some(Value::String(c)) => Some(c.clone()),
            Some(b) => b.get("context").and_then(Value::as_str).map(str::to_owned),
            None => None,
        };
        if let Some(context) = context.filter(|c| !c.contains('$')) {
            fs::create_dir_all(dir.join(context)).unwrap();
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Tool {
    Podman,
    Docker,
}

/// The resolved services of the compose file in `dir`, SERVICE_*_IMAGE_* environment
/// entries left out.
fn config(tool: Tool, dir: &Path, file: &str) -> Result<Value, String> {
    let out = match tool {
        Tool::Podman => Command::new(PODMAN_COMPOSE)
            .args(["-p", "corpus", "-f", file, "config"])
            .current_dir(dir)
            .output(),
        Tool::Docker => Command::new(DOCKER_COMPOSE)
            .args(["-p", "corpus", "-f", file, "--project-directory", "."])
            .arg("config")
            .current_dir(dir)
            .output(),
    }
    .unwrap();
    if !out.status.success() {
        return Err(format!(
            "{tool:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let value: Value = cipug::formats::compose::yaml::load(&String::from_utf8_lossy(&out.stdout))
        .map_err(|e| e.to_string())?;
    let mut services = value.get("services").cloned().unwrap_or(Value::Null);
    if let Value::Object(map) = &mut services {
        for service in map.values_mut() {
            if let Some(Value::Object(env)) = service.get_mut("environment") {
                env.retain(|k, _| !is_pin_variable(k));
            }
            if let Some(Value::Array(env)) = service.get_mut("environment") {
                env.retain(|k| {
                    !k.as_str()
                        .is_some_and(|kv| is_pin_variable(kv.split('=').next().unwrap_or("")))
                });
            }
        }
    }
    Ok(services)
}

fn is_pin_variable(name: &str) -> bool {
    name.starts_with("SERVICE_") && name.contains("_IMAGE_")
}

/// The env with each adopted entry's HASHED set: to its TAGGED value, or with `moved` to a
/// value of its own ([`marker`]).
fn pinned_env(got: &Adoption, moved: bool) -> String {
    let mut env = got.env.clone();
    if !env.is_empty() && !env.ends_with('\n') {
        env.push('\n');
    }
    for entry in &got.entries {
        let value = if moved {
            marker(&entry.entry)
        } else {
            entry.image.clone()
        };
        env.push_str(&format!("SERVICE_{}_IMAGE_HASHED={value}\n", entry.entry));
    }
    env
}

/// A pin that only entry `x` has: a service whose resolved config holds it changes when
/// that entry's pin moves, and only those (the pins reach the config through interpolation
/// alone), so one `config` run stands for one run per entry.
fn marker(x: &str) -> String {
    format!("moved.example/{}:moved", x.to_ascii_lowercase())
}

fn changed_services(base: &Value, now: &Value) -> BTreeSet<String> {
    let (Value::Object(base), Value::Object(now)) = (base, now) else {
        return BTreeSet::new();
    };
    now.iter()
        .filter(|(k, v)| base.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Runs the three checks on one file; the findings (non-fatal) it returns are printed.
fn check(case: &Case, scratch: &Path) -> Vec<String> {
    let mut findings = Vec::new();
    let got = match adopt(&case.compose, case.env.as_bytes()) {
        Ok(got) => got,
        Err(e) => {
            let want = REFUSED.iter().find(|(p, _)| *p == case.project);
            match want {
                Some((_, part)) => assert!(e.to_string().contains(part), "{}: {e}", case.project),
                None => panic!("{}: adopt refused: {e}", case.project),
            }
            return findings;
        }
    };
    assert!(
        !REFUSED.iter().any(|(p, _)| *p == case.project),
        "{}: adopted, expected a refusal",
        case.project
    );
    assert_lossless(case, &got);

    let dir = scratch.join(&case.project);
    fs::create_dir_all(&dir).unwrap();
    prepare(&dir, &case.compose);
    let file = case.compose_name.as_str();
    let write = |compose: &str, env: &str| {
        fs::write(dir.join(file), compose).unwrap();
        fs::write(dir.join(".env"), env).unwrap();
    };
    // The restart scope is read from docker-compose where it reads the file: podman-compose's
    // `config` prints the project before it resolves `extends:` (it does resolve them for
    // `up`, which the end-to-end tests show).
    let mut adopted_by = None;
    for tool in [Tool::Podman, Tool::Docker] {
        write(&case.compose, &case.env);
        let original = config(tool, &dir, file);
        write(&got.compose, &pinned_env(&got, false));
        let adopted = config(tool, &dir, file);
        // A file the tool itself refuses must be refused alike once adopted.
        assert_eq!(
            original, adopted,
            "{}: {tool:?} resolves the adopted project differently",
            case.project
        );
        match adopted {
            Ok(adopted) => adopted_by = Some((tool, adopted)),
            Err(e) => {
                let name = format!("{tool:?}");
                assert!(
                    TOOL_REFUSES.contains(&(case.project.as_str(), name.as_str())),
                    "{}: {e}",
                    case.project
                );
                findings.push(format!(
                    "{}: {tool:?} refuses the original and the adopted file alike: {}",
                    case.project,
                    e.lines().last().unwrap_or_default()
                ));
            }
        }
    }
    let Some((tool, adopted_config)) = adopted_by else {
        return findings;
    };

    let model = match ComposeServices::parse_project(&[(file.to_owned(), got.compose.clone())]) {
        Ok(model) => model,
        Err(e) => {
            let want = MODEL_REFUSES.iter().find(|(p, _)| *p == case.project);
            match want {
                Some((_, part)) => assert!(e.to_string().contains(part), "{}: {e}", case.project),
                None => panic!("{}: the model refuses the adopted file: {e}", case.project),
            }
            findings.push(format!(
                "{}: cipug's model cannot read it: {e}",
                case.project
            ));
            return findings;
        }
    };
    let resolved: BTreeSet<String> = match &adopted_config {
        Value::Object(m) => m.keys().cloned().collect(),
        _ => BTreeSet::new(),
    };
    write(&got.compose, &pinned_env(&got, true));
    let moved =
        config(tool, &dir, file).unwrap_or_else(|e| panic!("{}: {tool:?}: {e}", case.project));
    let changed = changed_services(&adopted_config, &moved);
    let Value::Object(moved) = moved else {
        panic!("{}: no services resolved", case.project)
    };
    for entry in &got.entries {
        let marker = marker(&entry.entry);
        let holding: BTreeSet<String> = moved
            .iter()
            .filter(|(_, v)| v.to_string().contains(&marker))
            .map(|(k, _)| k.clone())
            .collect();
        // Services of a profile that is not active are not in the resolved config.
        let expected: BTreeSet<String> = model
            .services_using(&[entry.entry.as_str()])
            .into_iter()
            .filter(|s| resolved.contains(s))
            .collect();
        assert_eq!(
            holding, expected,
            "{}: SERVICE_{}_IMAGE_HASHED: compose changes these services, cipug recreates those",
            case.project, entry.entry
        );
        assert!(holding.is_subset(&changed), "{}", case.project);
    }
    if mentions_env_file_dot_env(&case.compose) {
        findings.push(format!(
            "{}: services with `env_file: .env` also get the SERVICE_*_IMAGE_* lines in their \
             environment, so compose would recreate them too when any pin moves",
            case.project
        ));
    }
    findings
}

fn mentions_env_file_dot_env(compose: &str) -> bool {
    let value: Value = yaml(compose);
    let Some(Value::Object(services)) = value.get("services") else {
        return false;
    };
    services.values().any(|s| match s.get("env_file") {
        Some(Value::String(f)) => f == ".env",
        Some(Value::Array(fs)) => fs.iter().any(|f| f.as_str() == Some(".env")),
        _ => false,
    })
}

#[test]
fn corpus_adopts_losslessly_and_compose_agrees() {
    let cases = corpus();
    assert!(cases.len() >= 12, "{} corpus files", cases.len());
    let scratch = tempfile::tempdir().unwrap();
    let next = Mutex::new(0usize);
    let findings = Mutex::new(Vec::new());
    let failed = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = {
                    let mut next = next.lock().unwrap();
                    *next += 1;
                    *next - 1
                };
                let Some(case) = cases.get(i) else { return };
                let run = || check(case, scratch.path());
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
                    Ok(found) => findings.lock().unwrap().extend(found),
                    Err(_) => failed.lock().unwrap().push(case.project.clone()),
                }
            });
        }
    });
    let refused = cases
        .iter()
        .filter(|c| REFUSED.iter().any(|(p, _)| *p == c.project))
        .count();
    let adopted = cases.len() - refused;
    assert!(adopted >= 12, "{adopted} adopted");
    eprintln!(
        "{adopted} of {} compose files adopted and checked",
        cases.len()
    );
    for finding in findings.into_inner().unwrap() {
        eprintln!("finding: {finding}");
    }
    let failed = failed.into_inner().unwrap();
    assert!(failed.is_empty(), "failed (messages above): {failed:?}");
}
