//! The JSON config file: `parse_config_file` and `Config::load` through a real file.
//!
//! Input: the text of a config file (inputs that are not UTF-8 are skipped: a non-UTF-8
//! file fails in `read_to_string` before any parsing, and would only hit that one error
//! again and again). Checks:
//! * `parse_config_file` never panics, and its errors have config exit codes;
//! * `Config::load` with `CIPUG_CONFIG_FILE` naming a file that holds the text never
//!   panics, and every error it returns has a config exit code: 20 file not found,
//!   22 unknown format, 23 unknown structure, 24 type error or 25 value error;
//! * a loaded config prints (`to_json`) every setting.
//!
//! The temporary folder is made once per process; each input overwrites the one file.

#![no_main]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cipug::config::{parse_config_file, Config, Sources};
use cipug::config::table::SETTINGS;
use libfuzzer_sys::fuzz_target;

/// Exit codes a bad config file may produce.
const CONFIG_EXIT_CODES: [u8; 5] = [20, 22, 23, 24, 25];

struct Fixture {
    /// Kept so the folder lives as long as the process.
    _dir: tempfile::TempDir,
    file: PathBuf,
    sources: Sources,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let file = dir.path().join("cipug.json");
        let env: HashMap<String, String> = [
            ("CIPUG_CONFIG_FILE", file.to_string_lossy().as_ref()),
            ("HOME", "/home/fuzz"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let sources = Sources {
            flags: BTreeMap::new(),
            env,
            cwd: dir.path().to_path_buf(),
            is_root: false,
            uid: 1000,
            settings_file: None,
        };
        Fixture {
            _dir: dir,
            file,
            sources,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = parse_config_file(Path::new("fuzz.json"), text) {
        assert!(
            CONFIG_EXIT_CODES.contains(&e.exit_code()),
            "parse_config_file error with exit code {}: {e}",
            e.exit_code()
        );
    }

    let fixture = fixture();
    std::fs::write(&fixture.file, text).expect("write the config file");
    match Config::load(&fixture.sources) {
        Ok(config) => {
            let json = config.to_json();
            let map = json.as_object().expect("to_json gives an object");
            for setting in SETTINGS {
                assert!(
                    map.contains_key(setting.name),
                    "to_json lacks {}",
                    setting.name
                );
            }
        }
        Err(e) => assert!(
            CONFIG_EXIT_CODES.contains(&e.exit_code()),
            "Config::load error with exit code {}: {e}",
            e.exit_code()
        ),
    }
});
