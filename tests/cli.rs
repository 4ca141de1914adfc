//! The command line as a user meets it: settings, printing them, and the exit codes of bad
//! settings and missing tools. No root and no external services needed.
#![allow(clippy::unwrap_used, missing_docs)]

use std::fs;
use std::path::Path;
use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn cipug(args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_cipug"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("HOME", "/nonexistent-home")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

#[test]
fn print_config_json_has_every_setting_typed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.json");
    fs::write(
        &file,
        r#"{"SERVICES_ROOT": "srv", "SERVICE_PULL": "no", "CACHE_DURATION": 60}"#,
    )
    .unwrap();
    let run = cipug(
        &["--print-config-json", "--prune-images", "0"],
        &[
            ("CIPUG_CONFIG_FILE", file.to_str().unwrap()),
            ("CIPUG_CACHE_DURATION", "120"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(json["SERVICES_ROOT"], cwd.join("srv").to_str().unwrap());
    assert_eq!(json["SERVICE_PULL"], false);
    assert_eq!(json["PRUNE_IMAGES"], false);
    assert_eq!(json["CACHE_DURATION"], 120);
    assert_eq!(json["VERBOSITY"], 1);
    assert_eq!(json["SNAPSHOTS_MAX_AGE_SNAPPER"], 1.5);
    assert_eq!(json["CONFIG_FILE"], file.to_str().unwrap());
    assert_eq!(
        json["CACHE_LOCATION"]
            .as_str()
            .map(|p| Path::new(p).is_absolute()),
        Some(true)
    );
    let same = cipug(
        &["config", "--json", "--prune-images", "0"],
        &[
            ("CIPUG_CONFIG_FILE", file.to_str().unwrap()),
            ("CIPUG_CACHE_DURATION", "120"),
        ],
    );
    // `config --json` is typed; `--print-config-json` keeps the Python tool's strings for
    // its settings.
    let typed: serde_json::Value = serde_json::from_str(&same.stdout).unwrap();
    assert_eq!(typed["SERVICES_FILTER"], serde_json::json!([]));
    assert_eq!(typed["SNAPSHOTS_DIR_SNAPPER"], serde_json::Value::Null);
    assert_eq!(json["SERVICES_FILTER"], "");
    assert_eq!(json["SERVICES_FILTER_EXCLUDE"], "");
    assert_eq!(json["SNAPSHOTS_DIR_SNAPPER"], "");
    assert_eq!(json["SNAPSHOTS_DIR_BTRBK"], "");
    // Found per folder when unset: the Python tool's string setting is empty then.
    assert_eq!(typed["COMPOSE_FILE_NAME"], serde_json::Value::Null);
    assert_eq!(json["COMPOSE_FILE_NAME"], "");
    assert_eq!(
        json["NOTIFY_URL"],
        serde_json::Value::Null,
        "not the Python tool's"
    );
    let mut rest = typed.as_object().unwrap().clone();
    for key in [
        "SERVICES_FILTER",
        "SERVICES_FILTER_EXCLUDE",
        "SNAPSHOTS_DIR_SNAPPER",
        "SNAPSHOTS_DIR_BTRBK",
        "COMPOSE_FILE_NAME",
    ] {
        rest.remove(key);
    }
    for (key, value) in rest {
        assert_eq!(json[&key], value, "{key}");
    }
    // The output of `config --json` reads back as a config file, to the same settings.
    fs::write(&file, &same.stdout).unwrap();
    let again = cipug(
        &["config", "--json"],
        &[("CIPUG_CONFIG_FILE", file.to_str().unwrap())],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.stdout, same.stdout);
    let plain = cipug(&["config", "--json"], &[("CIPUG_SERVICES_ROOT", "/srv")]);
    assert!(
        plain.stdout.contains("\"CONFIG_FILE\": null"),
        "{}",
        plain.stdout
    );
    let other = dir.path().join("other.json");
    fs::write(&other, &plain.stdout).unwrap();
    let back = cipug(
        &["config", "--json"],
        &[("CIPUG_CONFIG_FILE", other.to_str().unwrap())],
    );
    assert_eq!(back.code, 0, "{}", back.stderr);
    let mut back: serde_json::Value = serde_json::from_str(&back.stdout).unwrap();
    let mut plain: serde_json::Value = serde_json::from_str(&plain.stdout).unwrap();
    assert_eq!(back["CONFIG_FILE"], other.to_str().unwrap());
    back["CONFIG_FILE"] = serde_json::Value::Null;
    plain["CONFIG_FILE"] = serde_json::Value::Null;
    assert_eq!(back, plain);
    let text = cipug(&["--print-config"], &[("CIPUG_SERVICES_ROOT", "/srv")]);
    assert!(
        text.stdout.lines().any(|l| l == "SERVICES_ROOT=/srv"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.lines().any(|l| l == "SERVICE_STOP_START=true"),
        "{}",
        text.stdout
    );
}

#[test]
fn bad_settings_have_the_original_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let not_json = file("a.json", "SERVICES_ROOT=/x");
    let list = file("b.json", "[]");
    let unknown = file("c.json", r#"{"SERVICES_ROOT": "/x", "COLOUR": "red"}"#);
    let wrong_type = file("d.json", r#"{"SERVICES_ROOT": "/x", "SERVICE_PULL": 3}"#);
    let cases: &[(&[&str], &[(&str, &str)], i32, &str)] = &[
        (&["config"], &[], 25, "SERVICES_ROOT is not set"),
        (
            &["config"],
            &[("CIPUG_CONFIG_FILE", "/nonexistent.json")],
            20,
            "/nonexistent.json: file not found",
        ),
        (
            &["config", "--config", &not_json],
            &[],
            22,
            "not valid JSON",
        ),
        (&["config", "--config", &list], &[], 23, "one JSON object"),
        (
            &["config", "--config", &unknown],
            &[],
            25,
            "unknown setting `COLOUR`",
        ),
        (
            &["config", "--config", &wrong_type],
            &[],
            24,
            "SERVICE_PULL: expected true or false",
        ),
        (
            &["config", "--verbosity", "many"],
            &[("CIPUG_SERVICES_ROOT", "/x")],
            24,
            "--verbosity: expected a whole number",
        ),
        (
            &["update"],
            &[("CIPUG_SERVICES_ROOT", "/nonexistent-services")],
            21,
            "/nonexistent-services: directory not found",
        ),
    ];
    for (args, env, code, msg) in cases {
        let run = cipug(args, env);
        assert_eq!(run.code, *code, "{args:?} {env:?}: {}", run.stderr);
        assert!(run.stderr.contains(msg), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn a_missing_tool_is_named_with_exit_10() {
    let dir = tempfile::tempdir().unwrap();
    let run = cipug(
        &[
            "update",
            "--services-root",
            dir.path().to_str().unwrap(),
            "--compose-tool",
            "no-such-compose",
        ],
        &[],
    );
    assert_eq!(run.code, 10, "{}", run.stderr);
    assert!(run.stderr.contains("`no-such-compose`"), "{}", run.stderr);
}

#[test]
fn help_and_version() {
    let help = cipug(&["--help"], &[]);
    assert_eq!(help.code, 0);
    for word in [
        "update",
        "check-snapshots",
        "config",
        "--services-root",
        "--print-config-json",
        "CIPUG_SERVICE_PULL",
    ] {
        assert!(help.stdout.contains(word), "{word} missing from --help");
    }
    let version = cipug(&["--version"], &[]);
    assert_eq!(
        version.stdout.trim(),
        format!("cipug {}", env!("CARGO_PKG_VERSION"))
    );
}

/// The README and every page in `docs/`, one after the other.
fn documentation() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    let mut docs: Vec<_> = fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
        .iter()
        .map(|p| fs::read_to_string(p).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn readme_documents_every_setting_and_exit_code() {
    let readme = documentation();
    for setting in cipug::config::table::SETTINGS {
        assert!(
            readme.contains(&format!("`{}`", setting.name)),
            "README and docs/ lack setting {}",
            setting.name
        );
    }
    for key in cipug::formats::env_keys::ENV_KEYS {
        assert!(
            readme.contains(&format!("`{}`", key.shown())),
            "README and docs/ lack .env key {}",
            key.shown()
        );
    }
}

#[test]
fn readme_exit_code_table_is_the_codes_table() {
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let head = "## Exit codes\n\n| code | meaning |\n|---|---|\n";
    let start = readme.find(head).expect("README has an exit code table") + head.len();
    let rows: Vec<&str> = readme[start..]
        .lines()
        .take_while(|l| l.starts_with('|'))
        .collect();
    let expected: Vec<String> = cipug::error::EXIT_CODES
        .iter()
        .map(|(code, meaning)| format!("| {code} | {meaning} |"))
        .collect();
    assert_eq!(
        rows, expected,
        "README's exit codes differ from src/error/exit.rs"
    );
}

#[test]
fn man_page_and_completions_build() {
    let man = cipug(&["man"], &[]);
    assert_eq!(man.code, 0, "{}", man.stderr);
    assert!(
        man.stdout.starts_with(".ie") || man.stdout.contains(".TH cipug 1"),
        "{}",
        &man.stdout[..200.min(man.stdout.len())]
    );
    for word in [
        "rollback",
        "history",
        "services\\-root",
        "CIPUG_SERVICE_PULL",
    ] {
        assert!(man.stdout.contains(word), "man page lacks {word}");
    }
    // The man page renders without warnings where man is installed.
    if std::process::Command::new("groff")
        .arg("--version")
        .output()
        .is_ok()
    {
        let dir = tempfile::tempdir().unwrap();
        let page = dir.path().join("cipug.1");
        fs::write(&page, &man.stdout).unwrap();
        let out = std::process::Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&page)
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for shell in ["bash", "zsh", "fish"] {
        let run = cipug(&["completions", shell], &[]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        assert!(
            run.stdout.contains("rollback") && run.stdout.contains("check-snapshots"),
            "{shell}"
        );
    }
    // The bash completion is valid bash.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("cipug.bash");
    fs::write(&script, cipug(&["completions", "bash"], &[]).stdout).unwrap();
    let status = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_closed_pipe_ends_quietly() {
    // The reader is gone before cipug writes: every write gets EPIPE.
    for args in ["completions bash", "man", "completions zsh"] {
        let out = Command::new("bash")
            .args([
                "-c",
                &format!(
                    "set -o pipefail; (sleep 0.3; exec {} {args}) | true",
                    env!("CARGO_BIN_EXE_cipug")
                ),
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args}: {stderr}");
    }
}

#[test]
fn non_ascii_pins_in_history_do_not_abort() {
    let state = tempfile::tempdir().unwrap();
    // The 12th byte of the digest falls inside a character.
    let pin = format!("a@sha256:a{}", "é".repeat(40));
    let event = serde_json::json!({"time": "2026-01-01T00:00:00Z", "service": "svc",
        "entry": "APP", "old": pin, "new": pin, "outcome": "updated"});
    fs::write(state.path().join("history.jsonl"), format!("{event}\n")).unwrap();
    let run = cipug(
        &["history"],
        &[
            ("CIPUG_SERVICES_ROOT", "/"),
            ("CIPUG_STATE_DIR", state.path().to_str().unwrap()),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(&"é".repeat(11)), "{}", run.stdout);
}

#[test]
fn install_stages_binary_man_page_completions_and_units() {
    let dest = tempfile::tempdir().unwrap();
    let out =
        std::process::Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install"))
            .env("DESTDIR", dest.path())
            .env("CIPUG_BIN", env!("CARGO_BIN_EXE_cipug"))
            .output()
            .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = dest.path();
    for file in [
        "usr/local/bin/cipug",
        "usr/local/share/man/man1/cipug.1",
        "usr/local/share/bash-completion/completions/cipug",
        "usr/local/share/zsh/site-functions/_cipug",
        "usr/local/share/fish/vendor_completions.d/cipug.fish",
        "etc/systemd/system/cipug.timer",
        "etc/cipug/cipug.env",
    ] {
        assert!(root.join(file).is_file(), "{file} missing");
    }
    let service = fs::read_to_string(root.join("etc/systemd/system/cipug.service")).unwrap();
    assert!(
        service.contains("Type=oneshot")
            && service.contains("EnvironmentFile=/etc/cipug/cipug.env")
    );
    assert!(service.contains("ExecStart=/usr/local/bin/cipug update --wait"));
    let timer = fs::read_to_string(root.join("etc/systemd/system/cipug.timer")).unwrap();
    assert!(timer.contains("RandomizedDelaySec=") && timer.contains("WantedBy=timers.target"));
    let version = std::process::Command::new(root.join("usr/local/bin/cipug"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("cipug {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn the_units_settings_file_is_read_by_the_shell_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cipug.env");
    fs::write(
        &file,
        "# as /etc/cipug/cipug.env\nCIPUG_SERVICES_ROOT=/srv/services\nCIPUG_CACHE_DURATION=60\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let run = cipug(
        &["config", "--json"],
        &[("CIPUG_SETTINGS_FILE", path), ("CIPUG_CACHE_DURATION", "5")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["SERVICES_ROOT"], "/srv/services");
    assert_eq!(
        json["CACHE_DURATION"], 5,
        "the environment wins over the file"
    );
    // Missing everywhere: the error names the file it looked at.
    let missing = dir.path().join("none.env");
    let run = cipug(
        &["doctor"],
        &[("CIPUG_SETTINGS_FILE", missing.to_str().unwrap())],
    );
    assert_eq!(run.code, 25, "{}", run.stderr);
    assert!(
        run.stderr.contains("SERVICES_ROOT is not set")
            && run
                .stderr
                .contains(&format!("{} (not found)", missing.display())),
        "{}",
        run.stderr
    );
}
