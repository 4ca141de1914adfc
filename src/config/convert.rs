//! Converting one raw setting value, text from a flag or the environment or a JSON value
//! from the config file, into a typed value by the setting's [`Kind`].

use std::path::{Path, PathBuf};

use serde_json::{Number, Value};

use crate::config::table::{Kind, Setting};
use crate::error::{Error, Result};

/// A value before conversion, with the place it came from for error messages.
pub(super) enum Raw {
    /// Text from a flag, the environment or a default.
    Text(String, String),
    /// A value from the config file.
    Json(Value, String),
}

/// A converted value.
#[derive(Debug, Clone)]
pub(super) enum Typed {
    /// No value: the setting is unset.
    Unset,
    /// A boolean.
    Flag(bool),
    /// A whole number.
    Count(u64),
    /// Hours.
    Hours(f64),
    /// Text, a file name or a choice.
    Text(String),
    /// An absolute path.
    Path(PathBuf),
    /// Names.
    List(Vec<String>),
}

impl Typed {
    /// The boolean; false when not one.
    pub(super) fn flag(&self) -> bool {
        matches!(self, Typed::Flag(true))
    }
    /// The whole number; 0 when not one.
    pub(super) fn count(&self) -> u64 {
        match self {
            Typed::Count(n) => *n,
            _ => 0,
        }
    }
    /// The hours; 0 when not hours.
    pub(super) fn hours(&self) -> f64 {
        match self {
            Typed::Hours(h) => *h,
            _ => 0.0,
        }
    }
    /// The text, if it is text.
    pub(super) fn text(&self) -> Option<String> {
        match self {
            Typed::Text(t) => Some(t.clone()),
            _ => None,
        }
    }
    /// The names; none when not a list.
    pub(super) fn list(&self) -> Vec<String> {
        match self {
            Typed::List(l) => l.clone(),
            _ => Vec::new(),
        }
    }
}

/// Parses a boolean the way the original did, in any case.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// Converts `raw` by the kind of `setting`; relative paths are taken from `cwd`.
pub(super) fn convert(setting: &Setting, raw: Raw, cwd: &Path) -> Result<Typed> {
    match raw {
        Raw::Text(text, origin) => from_text(setting.kind, text, &origin, cwd),
        Raw::Json(value, origin) => from_json(setting.kind, value, &origin, cwd),
    }
}

fn type_error(origin: &str, want: &str, got: &dyn std::fmt::Display) -> Error {
    Error::Type(format!("{origin}: expected {want}, got {got}"))
}

fn value_error(origin: &str, msg: String) -> Error {
    Error::Value(format!("{origin}: {msg}"))
}

/// A JSON value keeps JSON's own type where it fits the kind; a string is read as text.
fn from_json(kind: Kind, value: Value, origin: &str, cwd: &Path) -> Result<Typed> {
    match (kind, value) {
        (Kind::Bool, Value::Bool(b)) => Ok(Typed::Flag(b)),
        (Kind::Count, Value::Number(n)) => n
            .as_u64()
            .map(Typed::Count)
            .ok_or_else(|| type_error(origin, "a whole number >= 0", &n)),
        (Kind::Hours, Value::Number(n)) => json_hours(&n, origin),
        (Kind::List, Value::Array(items)) => json_list(items, origin),
        (_, Value::String(s)) => from_text(kind, s, origin, cwd),
        (kind, other) => {
            let want = match kind {
                Kind::Bool => "true or false",
                Kind::Count => "a whole number",
                Kind::Hours => "a number of hours",
                Kind::List => "a comma-separated string or a list of strings",
                _ => "a string",
            };
            Err(type_error(origin, want, &other))
        }
    }
}

fn json_hours(n: &Number, origin: &str) -> Result<Typed> {
    let h = n.as_f64().unwrap_or(f64::NAN);
    if !(h.is_finite() && h >= 0.0) {
        return Err(value_error(origin, format!("hours must be >= 0, not {n}")));
    }
    Ok(Typed::Hours(h))
}

fn json_list(items: Vec<Value>, origin: &str) -> Result<Typed> {
    let mut list = Vec::new();
    for item in items {
        match item {
            Value::String(s) if !s.trim().is_empty() => list.push(s.trim().to_owned()),
            other => return Err(type_error(origin, "a list of names", &other)),
        }
    }
    Ok(Typed::List(list))
}

/// Text from a flag, the environment, a default or a JSON string, read by the kind.
fn from_text(kind: Kind, text: String, origin: &str, cwd: &Path) -> Result<Typed> {
    match kind {
        Kind::Bool => parse_bool(&text)
            .map(Typed::Flag)
            .ok_or_else(|| type_error(origin, "true/false, 1/0 or yes/no", &format!("`{text}`"))),
        Kind::Count => text
            .trim()
            .parse::<u64>()
            .map(Typed::Count)
            .map_err(|_| type_error(origin, "a whole number >= 0", &format!("`{text}`"))),
        Kind::Hours => text_hours(&text, origin),
        Kind::List => Ok(Typed::List(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )),
        Kind::Text if text.trim().is_empty() => Ok(Typed::Unset),
        Kind::Text => Ok(Typed::Text(text)),
        Kind::FileName => text_file_name(text, origin),
        Kind::Path if text.is_empty() => Ok(Typed::Unset),
        Kind::Path => Ok(Typed::Path(cwd.join(text))),
        Kind::Choice(words) => text_choice(&text, words, origin),
    }
}

fn text_hours(text: &str, origin: &str) -> Result<Typed> {
    match text.trim().parse::<f64>() {
        Ok(h) if h.is_finite() && h >= 0.0 => Ok(Typed::Hours(h)),
        Ok(_) => Err(value_error(
            origin,
            format!("hours must be >= 0, not `{text}`"),
        )),
        Err(_) => Err(type_error(
            origin,
            "a number of hours",
            &format!("`{text}`"),
        )),
    }
}

fn text_file_name(text: String, origin: &str) -> Result<Typed> {
    if text.is_empty() || text.contains('/') || text == "." || text == ".." {
        Err(value_error(
            origin,
            format!("`{text}` must be a plain file name"),
        ))
    } else {
        Ok(Typed::Text(text))
    }
}

fn text_choice(text: &str, words: &[&str], origin: &str) -> Result<Typed> {
    let lower = text.trim().to_ascii_lowercase();
    if words.contains(&lower.as_str()) {
        Ok(Typed::Text(lower))
    } else {
        Err(value_error(
            origin,
            format!("`{text}` is not one of {}", words.join(", ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::table::{Kind, SETTINGS};
    use crate::config::tests::{sources, with_file};
    use crate::config::Config;

    #[test]
    fn booleans_and_lists() {
        for (text, want) in [
            ("TRUE", true),
            ("yes", true),
            ("1", true),
            ("No", false),
            ("0", false),
            ("false", false),
        ] {
            let c = Config::load(&sources(
                &[("SERVICE_PULL", text)],
                &[("CIPUG_SERVICES_ROOT", "/s")],
            ))
            .unwrap();
            assert_eq!(c.service_pull, want, "{text}");
        }
        let (_dir, file) = with_file(
            r#"{"SERVICES_ROOT": "/s", "PRUNE_IMAGES": false, "SERVICES_FILTER": ["a", "b"], "SERVICES_FILTER_EXCLUDE": " c, d ,", "CACHE_DURATION": "60"}"#,
        );
        let c = Config::load(&sources(&[("CONFIG_FILE", &file)], &[])).unwrap();
        assert!(!c.prune_images);
        assert_eq!(c.services_filter, vec!["a", "b"]);
        assert_eq!(c.services_filter_exclude, vec!["c", "d"]);
        assert_eq!(c.cache_duration, 60);
    }

    /// Every setting gets every wrong value its kind can get, from the environment and from
    /// the file; each must be refused with the type (24) or value (25) exit code.
    #[test]
    fn every_setting_refuses_wrong_types_and_values() {
        let mut cases = 0;
        for setting in SETTINGS.iter().filter(|s| s.name != "CONFIG_FILE") {
            let (env_bad, json_bad): (Vec<(&str, u8)>, Vec<(&str, u8)>) = match setting.kind {
                Kind::Bool => (
                    vec![("maybe", 24), ("2", 24), ("", 24)],
                    vec![("5", 24), ("\"sometimes\"", 24), ("[true]", 24)],
                ),
                Kind::Count => (
                    vec![("many", 24), ("-1", 24), ("1.5", 24)],
                    vec![("-3", 24), ("1.5", 24), ("true", 24), ("\"x\"", 24)],
                ),
                Kind::Hours => (
                    vec![("soon", 24), ("-1", 25), ("inf", 25)],
                    vec![("-0.5", 25), ("\"x\"", 24), ("{}", 24)],
                ),
                Kind::Choice(_) => (vec![("cron", 25)], vec![("\"cron\"", 25), ("1", 24)]),
                Kind::FileName => (
                    vec![("a/b", 25), ("..", 25)],
                    vec![("\"a/b\"", 25), ("7", 24)],
                ),
                Kind::Path | Kind::Text => (vec![], vec![("5", 24), ("true", 24), ("[\"a\"]", 24)]),
                Kind::List => (vec![], vec![("[1]", 24), ("true", 24), ("{}", 24)]),
            };
            let range: Vec<(&str, u8)> = match setting.name {
                "VERBOSITY" => vec![("4", 25)],
                "RESOLVE_JOBS" | "RESOLVE_JOBS_PER_REGISTRY" => vec![("0", 25), ("257", 25)],
                "REGISTRY_TIMEOUT" => vec![("0", 25), ("3601", 25)],
                "PULL_JOBS" => vec![("0", 25), ("65", 25)],
                "COMPOSE_TOOL" | "CONTAINER_TOOL" => vec![("'unclosed", 25)],
                _ => vec![],
            };
            for (value, code) in env_bad.iter().chain(&range) {
                let env_var = setting.env_var();
                let err = Config::load(&sources(
                    &[],
                    &[("CIPUG_SERVICES_ROOT", "/s"), (&env_var, value)],
                ))
                .err()
                .unwrap_or_else(|| panic!("{env_var}={value:?} was accepted"));
                assert_eq!(err.exit_code(), *code, "{env_var}={value:?}: {err}");
                assert!(
                    err.to_string().contains(setting.name),
                    "{env_var}={value:?}: {err}"
                );
                cases += 1;
            }
            for (value, code) in &json_bad {
                let (_dir, file) = with_file(&format!(
                    r#"{{"SERVICES_ROOT": "/s", "{}": {value}}}"#,
                    setting.name
                ));
                let err = Config::load(&sources(&[], &[("CIPUG_CONFIG_FILE", &file)]))
                    .err()
                    .unwrap_or_else(|| panic!("{}: {value} was accepted", setting.name));
                assert_eq!(err.exit_code(), *code, "{}: {value}: {err}", setting.name);
                assert!(
                    err.to_string().contains(setting.name),
                    "{}: {value}: {err}",
                    setting.name
                );
                cases += 1;
            }
        }
        assert!(cases > 100, "{cases} cases");
    }
}
