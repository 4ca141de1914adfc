//! The differential suite: every case of `tests/dialects/cases.json` read by the compose
//! tools' own parsers and by cipug.
//!
//! References: podman-compose 1.0.3 with Debian's python-dotenv 0.21 (`/usr/bin/python3`),
//! podman-compose 1.6 with python-dotenv 1.2 (the test virtualenv that `scripts/install-deps`
//! makes), both run for real through `tests/dialects/read_env.py`, which calls
//! podman-compose's own `dotenv_to_dict`. docker compose v2 (compose-go) cannot be built
//! here: its answers are written into each case (`go`, `go_error`), worked out from
//! compose-go's `dotenv/parser.go` (`extractVarValue`, `locateKeyName`, `expandEscapes`),
//! `dotenv/env.go` (`GetEnvFromFile`: the environment wins) and `template/template.go`
//! (`Substitute`: `$$`, `${A:-${B}}`).
//!
//! Asserted for every case: cipug's models of the three tools equal the references; where
//! the references agree on the TAGGED and HASHED values cipug reads exactly that; where they
//! disagree cipug refuses (exit 32, file and line named, file untouched); after cipug's
//! write every reference reads the pin for HASHED and every other key as before; with a
//! process environment, compose run in cipug's cleaned environment reads the file's pin.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cipug::formats::dialects::{self, Tool, Value};
use cipug::formats::envfile::EnvFile;
use cipug::formats::pins::{image_entries, is_pin_variable};
use serde_json::{json, Value as Json};

const PIN: &str =
    "127.0.0.1:5000/app@sha256:1111111111111111111111111111111111111111111111111111111111111111";

struct Case {
    class: String,
    text: String,
    env: BTreeMap<String, String>,
    go: Option<BTreeMap<String, Option<String>>>,
    cipug_refuses: Option<String>,
}

fn cases() -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dialects/cases.json");
    let all: Vec<Json> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    all.into_iter()
        .map(|c| Case {
            class: c["class"].as_str().unwrap().to_owned(),
            text: c["text"].as_str().unwrap().to_owned(),
            env: serde_json::from_value(c.get("env").cloned().unwrap_or(json!({}))).unwrap(),
            go: c
                .get("go")
                .map(|g| serde_json::from_value(g.clone()).unwrap()),
            cipug_refuses: c
                .get("cipug_refuses")
                .map(|r| r.as_str().unwrap().to_owned()),
        })
        .collect()
}

/// What one podman-compose release reads: its dotenv dict and its compose variables.
#[derive(Debug, Clone)]
struct PyReading {
    dotenv: BTreeMap<String, Option<String>>,
    compose: BTreeMap<String, Option<String>>,
}

fn venv() -> PathBuf {
    PathBuf::from(
        std::env::var("CIPUG_TEST_VENV").unwrap_or_else(|_| "/opt/cipug-test/venv".into()),
    )
}

/// Runs the driver under `python` for all `(text, env)` pairs.
fn python_read(
    python: &Path,
    mode: &str,
    inputs: &[(String, BTreeMap<String, String>)],
) -> Vec<PyReading> {
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dialects/read_env.py");
    let input: Vec<Json> = inputs
        .iter()
        .map(|(text, env)| json!({"text": text, "env": env}))
        .collect();
    let mut child = Command::new(python)
        .arg(&driver)
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&input).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{} {mode} failed", python.display());
    let results: Vec<Json> = serde_json::from_slice(&out.stdout).unwrap();
    results
        .into_iter()
        .map(|r| {
            assert!(r.get("error").is_none(), "{mode}: {r}");
            PyReading {
                dotenv: serde_json::from_value(r["dotenv"].clone()).unwrap(),
                compose: serde_json::from_value(r["compose"].clone()).unwrap(),
            }
        })
        .collect()
}

/// Both podman-compose releases, on the same inputs.
fn references(inputs: &[(String, BTreeMap<String, String>)]) -> [Vec<PyReading>; 2] {
    [
        python_read(Path::new("/usr/bin/python3"), "pc1.0", inputs),
        python_read(&venv().join("bin/python"), "pc1.6", inputs),
    ]
}

fn pin_keys(keys: impl Iterator<Item = String>) -> Vec<String> {
    let mut keys: Vec<String> = keys
        .filter(|k| {
            k.starts_with("SERVICE_")
                && (k.ends_with("_IMAGE_TAGGED") || k.ends_with("_IMAGE_HASHED"))
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn text_of(v: &Value) -> Option<Option<String>> {
    match v {
        Value::Unset => Some(None),
        Value::Text(t) => Some(Some(t.clone())),
        Value::Unknown => None,
    }
}

#[test]
fn differential_suite_against_the_compose_tools_parsers() {
    let cases = cases();
    assert!(cases.len() >= 120, "{} cases", cases.len());
    let empty: Vec<(String, BTreeMap<String, String>)> = cases
        .iter()
        .map(|c| (c.text.clone(), BTreeMap::new()))
        .collect();
    let [pc10, pc16] = references(&empty);

    let mut problems: Vec<String> = Vec::new();
    macro_rules! check {
        ($cond:expr, $($msg:tt)*) => {
            if !$cond {
                problems.push(format!($($msg)*));
                continue;
            }
        };
    }
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    let mut classes: BTreeMap<&str, usize> = BTreeMap::new();
    for (n, case) in cases.iter().enumerate() {
        *classes.entry(case.class.as_str()).or_default() += 1;
        let what = format!("case {n} ({}): {:?}", case.class, case.text);
        // 1. cipug's models of the tools equal the tools.
        let model10 = dialects::read(Tool::PythonDotenv021, &case.text).unwrap();
        let model12 = dialects::read(Tool::PythonDotenv12, &case.text).unwrap();
        for (model, real, tool) in [(&model10, &pc10[n], "pc1.0"), (&model12, &pc16[n], "pc1.6")] {
            let keys: Vec<String> = model.keys().map(str::to_owned).collect();
            let same = real
                .dotenv
                .iter()
                .all(|(key, value)| text_of(&model.get(key)) == Some(value.clone()));
            check!(
                same && keys.len() == real.dotenv.len(),
                "{what}: {tool} reads {:?}, the model {model:?}",
                real.dotenv
            );
        }
        let go = dialects::read(Tool::ComposeGo, &case.text);
        match (&case.go, &go) {
            (None, go) => {
                // The model may also leave a value it cannot follow `Unknown`: cipug refuses.
                let unknown = go
                    .as_ref()
                    .is_ok_and(|g| g.keys().any(|k| g.get(k) == Value::Unknown));
                check!(
                    go.is_err() || unknown,
                    "{what}: compose-go refuses this file, model {go:?}"
                )
            }
            (Some(_), Err(e)) => check!(false, "{what}: compose-go model refuses: {e:?}"),
            (Some(expected), Ok(go)) => {
                // An `Unknown` model value makes cipug refuse: allowed, never a guess.
                let same = expected.iter().all(|(key, value)| {
                    let model = text_of(&go.get(key));
                    model.is_none() || model == Some(value.clone())
                });
                check!(same, "{what}: compose-go {expected:?}, model {go:?}");
            }
        }

        // 2. Where the references agree on every pin key, cipug reads that; else it refuses.
        let mut keys: Vec<String> = pc10[n]
            .dotenv
            .keys()
            .chain(pc16[n].dotenv.keys())
            .cloned()
            .collect();
        if let Some(go) = &case.go {
            keys.extend(go.keys().cloned());
        }
        let keys = pin_keys(keys.into_iter());
        let agree = case.go.as_ref().is_some_and(|go| {
            keys.iter().all(|k| {
                let a = pc10[n].dotenv.get(k).cloned().flatten();
                let b = pc16[n].dotenv.get(k).cloned().flatten();
                let c = go.get(k).cloned().flatten();
                a == b && b == c
            })
        });
        let parsed = EnvFile::parse(case.text.as_bytes());
        let read = parsed
            .as_ref()
            .map_err(|e| (e.line, e.msg.clone()))
            .and_then(image_entries);
        match (&read, agree, &case.cipug_refuses) {
            (Err((line, msg)), _, Some(reason)) => {
                check!(msg.contains(reason.as_str()) || !agree, "{what}: {msg}");
                check!(*line >= 1, "{what}: {msg}");
                refused.push(n);
            }
            (Err((line, msg)), false, None) => {
                check!(*line >= 1, "{what}: {msg}");
                refused.push(n);
            }
            (Err((_, msg)), true, None) => {
                check!(false, "{what}: the tools agree but cipug refuses: {msg}")
            }
            (Ok(_), false, _) => check!(
                false,
                "{what}: the tools disagree but cipug reads it: {read:?}"
            ),
            (Ok(_), true, Some(reason)) => check!(false, "{what}: cipug should refuse ({reason})"),
            (Ok(images), true, None) => {
                let go = case.go.as_ref().unwrap();
                let same = images.iter().all(|image| {
                    let tagged = go[&image.tagged_key()].clone();
                    let hashed = go
                        .get(&image.hashed_key())
                        .cloned()
                        .flatten()
                        .filter(|v| !v.is_empty());
                    Some(image.tagged.clone()) == tagged && image.pinned == hashed
                });
                check!(same, "{what}: cipug reads {images:?}");
                accepted.push(n);
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    eprintln!(
        "{} cases: {} read, {} refused; classes: {classes:?}",
        cases.len(),
        accepted.len(),
        refused.len()
    );
    assert!(
        accepted.len() >= 60 && refused.len() >= 20,
        "{} / {}",
        accepted.len(),
        refused.len()
    );

    after_write(&cases, &accepted);
    environment(&cases, &accepted);
    refusals_through_the_command_line(&cases, &refused);
}

/// After cipug pins every entry of an accepted case, each reference reads the pin for
/// HASHED and every other key as before.
fn after_write(cases: &[Case], accepted: &[usize]) {
    let mut inputs = Vec::new();
    let mut expected = Vec::new();
    for &n in accepted {
        let before = EnvFile::parse(cases[n].text.as_bytes()).unwrap();
        let images = image_entries(&before).unwrap();
        let mut after = before.clone();
        let mut pins = Vec::new();
        for image in &images {
            after.set(&image.hashed_key(), PIN, Some(&image.tagged_key()));
            pins.push((image.hashed_key(), PIN.to_owned()));
        }
        dialects::check_edit(before.render(), after.render(), &pins)
            .unwrap_or_else(|e| panic!("case {n}: {e:?}: {:?}", after.render()));
        inputs.push((cases[n].text.clone(), BTreeMap::new()));
        inputs.push((after.render().to_owned(), BTreeMap::new()));
        expected.push((n, pins, after.render().to_owned()));
    }
    let [pc10, pc16] = references(&inputs);
    for (i, (n, pins, after)) in expected.iter().enumerate() {
        for real in [&pc10, &pc16] {
            let (old, new) = (&real[2 * i].dotenv, &real[2 * i + 1].dotenv);
            for (key, pin) in pins {
                assert_eq!(
                    new.get(key),
                    Some(&Some(pin.clone())),
                    "case {n}: {after:?}"
                );
            }
            for (key, value) in old
                .iter()
                .filter(|(k, _)| !pins.iter().any(|(p, _)| p == *k))
            {
                assert_eq!(new.get(key), Some(value), "case {n}: {key} in {after:?}");
            }
        }
        let go = dialects::read(Tool::ComposeGo, after).unwrap();
        for (key, pin) in pins {
            assert_eq!(go.get(key), Value::Text(pin.clone()), "case {n}");
        }
    }
}

/// With a process environment: the environment compose gets from cipug (without pin
/// variables and the variables TAGGED values use) makes every reference read the file's pin.
fn environment(cases: &[Case], accepted: &[usize]) {
    let with_env: Vec<usize> = accepted
        .iter()
        .copied()
        .filter(|&n| !cases[n].env.is_empty())
        .collect();
    assert!(with_env.len() >= 6, "{with_env:?}");
    let mut inputs = Vec::new();
    for &n in &with_env {
        let images = image_entries(&EnvFile::parse(cases[n].text.as_bytes()).unwrap()).unwrap();
        let uses: Vec<String> = images.iter().flat_map(|i| i.uses.clone()).collect();
        let cleaned: BTreeMap<String, String> = cases[n]
            .env
            .iter()
            .filter(|(k, _)| !is_pin_variable(k) && !uses.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        inputs.push((cases[n].text.clone(), cases[n].env.clone()));
        inputs.push((cases[n].text.clone(), cleaned));
    }
    let [pc10, pc16] = references(&inputs);
    let mut env_changed_pin = 0;
    for (i, &n) in with_env.iter().enumerate() {
        let images = image_entries(&EnvFile::parse(cases[n].text.as_bytes()).unwrap()).unwrap();
        for image in &images {
            let key = image.hashed_key();
            let want = image.pinned.clone();
            for real in [&pc10, &pc16] {
                let got = real[2 * i + 1]
                    .compose
                    .get(&key)
                    .cloned()
                    .flatten()
                    .filter(|v| !v.is_empty());
                assert_eq!(got, want, "case {n}: {key} in the cleaned environment");
                let raw = real[2 * i]
                    .compose
                    .get(&key)
                    .cloned()
                    .flatten()
                    .filter(|v| !v.is_empty());
                if raw != want {
                    env_changed_pin += 1;
                }
            }
            // compose-go: the environment wins (dotenv/env.go, cli/options.go), so with the
            // pin variables and the variables they use removed it reads the file, as the
            // model does.
            assert!(is_pin_variable(&key));
        }
    }
    assert!(
        env_changed_pin >= 2,
        "the raw environment changed no pin: the cases test nothing"
    );
}

/// Each refused case, run through `cipug check`: exit 32, the file and line named, the file
/// left as it was.
fn refusals_through_the_command_line(cases: &[Case], refused: &[usize]) {
    let tmp = tempfile::tempdir().unwrap();
    for &n in refused {
        let root = tmp.path().join(format!("root{n}"));
        let dir = root.join("app");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("compose.yml"), "services: {}\n").unwrap();
        std::fs::write(dir.join(".env"), &cases[n].text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_cipug"))
            .arg("check")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .env("HOME", "/nonexistent-home")
            .env("CIPUG_SERVICES_ROOT", &root)
            .env("CIPUG_STATE_DIR", tmp.path().join(format!("state{n}")))
            .env(
                "CIPUG_CACHE_FILE",
                tmp.path().join(format!("cache{n}.json")),
            )
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(32), "case {n}: {stderr}");
        let named = format!("{}: line ", dir.join(".env").display());
        assert!(stderr.contains(&named), "case {n}: {stderr}");
        assert_eq!(
            std::fs::read_to_string(dir.join(".env")).unwrap(),
            cases[n].text,
            "case {n}"
        );
    }
}
