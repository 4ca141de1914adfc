//! What each compose tool reads from a `.env` file, rule for rule.
//!
//! cipug pins the image that compose will run, so it must read a `.env` as the compose tool
//! does. The tools disagree on corner cases, so this module models each of them:
//!
//! - python-dotenv 0.21 (`dotenv_values`, what podman-compose 1.0 calls),
//! - python-dotenv 1.2 (what podman-compose 1.6 calls),
//! - docker compose v2 (compose-go's `dotenv` parser and its `template` interpolation).
//!
//! Each model returns the keys and values the tool ends up with, interpolated as the tool
//! does it against an empty process environment (cipug hands compose an environment without
//! the variables that decide a pin). Where a model cannot be sure what its tool does (an
//! interpolation form it does not know), the value is [`Value::Unknown`]: cipug then refuses
//! rather than guess. The models are checked against the real parsers in `tests/dialects.rs`.
//!
//! This file holds the tools and what they agree on; the models are in `python_dotenv` and
//! `compose_go`, what they read in `reading`.

mod compose_go;
mod python_dotenv;
mod reading;

pub use reading::{Reading, Value};

/// One compose tool's way of reading a `.env`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// python-dotenv 0.21, as podman-compose 1.0 uses it.
    PythonDotenv021,
    /// python-dotenv 1.2, as podman-compose 1.6 uses it.
    PythonDotenv12,
    /// compose-go, as docker compose v2 uses it.
    ComposeGo,
}

impl Tool {
    /// Every modelled tool.
    pub const ALL: [Tool; 3] = [Tool::PythonDotenv021, Tool::PythonDotenv12, Tool::ComposeGo];

    /// The name shown in messages.
    pub fn name(self) -> &'static str {
        match self {
            Tool::PythonDotenv021 => "podman-compose 1.0 (python-dotenv 0.21)",
            Tool::PythonDotenv12 => "podman-compose 1.6 (python-dotenv 1.2)",
            Tool::ComposeGo => "docker compose v2 (compose-go)",
        }
    }
}

/// Reads `text` as `tool` does. An error means the tool refuses the whole file.
pub fn read(tool: Tool, text: &str) -> Result<Reading, (usize, String)> {
    match tool {
        Tool::PythonDotenv021 => Ok(python_dotenv::read(text, false)),
        Tool::PythonDotenv12 => Ok(python_dotenv::read(text, true)),
        Tool::ComposeGo => compose_go::read(text),
    }
}

/// Values every tool reads alike, or why not. `Ok(None)`: no tool sets the key.
pub fn agreed(readings: &[(Tool, Reading)], key: &str) -> Result<Option<String>, String> {
    let mut seen: Vec<(Tool, Option<&str>)> = Vec::new();
    for (tool, reading) in readings {
        match reading.text(key) {
            Some(v) => seen.push((*tool, v)),
            None => {
                return Err(format!(
                    "{} reads it in a way cipug cannot follow",
                    tool.name()
                ))
            }
        }
    }
    let first = seen.first().map(|(_, v)| *v).unwrap_or(None);
    if seen.iter().all(|(_, v)| *v == first) {
        return Ok(first.map(str::to_owned));
    }
    let parts: Vec<String> = seen
        .iter()
        .map(|(tool, v)| match v {
            Some(v) => format!("{} reads `{}`", tool.name(), v.escape_debug()),
            None => format!("{} does not set it", tool.name()),
        })
        .collect();
    Err(format!("the compose tools disagree: {}", parts.join(", ")))
}

/// Every tool's reading of `text`, or the first tool that refuses the file.
pub fn read_all(text: &str) -> Result<Vec<(Tool, Reading)>, (usize, String)> {
    each_tool(text.len(), |tool| {
        read(tool, text)
            .map(|r| (tool, r))
            .map_err(|(line, e)| (line, format!("{} cannot read the file: {e}", tool.name())))
    })
    .into_iter()
    .collect()
}

/// From how many bytes of text the tools read side by side on threads.
const THREADS_FROM: usize = 64 * 1024;

/// `f` for every tool, on `bytes` of text: for a big text the tools side by side on threads
/// (a big file reads in a third of the time on three cores); a small one, as nearly every
/// `.env` is, one after another, which takes less than starting three threads.
fn each_tool<T: Send>(bytes: usize, f: impl Fn(Tool) -> T + Sync) -> Vec<T> {
    if bytes < THREADS_FROM {
        return Tool::ALL.iter().map(|&tool| f(tool)).collect();
    }
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = Tool::ALL
            .iter()
            .map(|&tool| scope.spawn(move || f(tool)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Checks an edit before it is written: in `after`, every tool reads each `(key, pin)` of
/// `pins` as the pin and every other key as it read it in `before`. The error names the
/// line and the tool that would read something else.
pub fn check_edit(
    before: &str,
    after: &str,
    pins: &[(String, String)],
) -> Result<(), (usize, String)> {
    each_tool(before.len() + after.len(), |tool| {
        check_edit_for(tool, before, after, pins)
    })
    .into_iter()
    .collect()
}

fn check_edit_for(
    tool: Tool,
    before: &str,
    after: &str,
    pins: &[(String, String)],
) -> Result<(), (usize, String)> {
    let pinned: std::collections::HashSet<&str> = pins.iter().map(|(k, _)| k.as_str()).collect();
    {
        let old = read(tool, before)?;
        let new = read(tool, after)?;
        for (key, pin) in pins {
            if new.get(key) != Value::Text(pin.clone()) {
                let line = new.line(key).unwrap_or(1);
                return Err((
                    line,
                    format!(
                        "after the edit {} would not read {key} as the pin",
                        tool.name()
                    ),
                ));
            }
        }
        let changed = old
            .keys()
            .chain(new.keys())
            .filter(|k| !pinned.contains(k))
            .find(|k| old.get(k) != new.get(k));
        if let Some(key) = changed {
            let line = new.line(key).or(old.line(key)).unwrap_or(1);
            return Err((
                line,
                format!(
                    "after the edit {} would read {key} differently",
                    tool.name()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str, key: &str) -> Vec<Value> {
        Tool::ALL
            .iter()
            .map(|&t| read(t, text).map(|r| r.get(key)).unwrap_or(Value::Unknown))
            .collect()
    }

    fn t(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn where_the_tools_differ() {
        // python-dotenv 0.21, 1.2, compose-go.
        let cases: &[(&str, &str, [Value; 3])] = &[
            ("A=#x", "A", [t("#x"), t("#x"), t("#x")]),
            ("A= #x", "A", [t("#x"), t(""), t("#x")]),
            ("A=b\t#x", "A", [t("b"), t("b"), t("b\t#x")]),
            ("B=1\nA=\"\\$B\"", "A", [t("\\$B"), t("\\$B"), t("$B")]),
            ("B=1\nA=$B", "A", [t("$B"), t("$B"), t("1")]),
            ("A=${B:-d}\nB=1", "A", [t("d"), t("d"), t("d")]),
            ("B=\nA=${B:-d}", "A", [t(""), t(""), t("d")]),
            ("A='it\\'s'", "A", [t("it's"), t("it's"), t("it\\'s")]),
            ("A=1\rB=2", "B", [t("2"), t("2"), Value::Unset]),
            ("\u{feff}A=1", "A", [Value::Unset, t("1"), t("1")]),
        ];
        for (text, key, want) in cases {
            assert_eq!(all(text, key), want.to_vec(), "{text:?}");
        }
    }
}
