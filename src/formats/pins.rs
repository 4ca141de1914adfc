//! The image entries of a service's env file: `SERVICE_<X>_IMAGE_TAGGED` (what to follow)
//! and `SERVICE_<X>_IMAGE_HASHED` (what is pinned). Pure: works on a parsed [`EnvFile`].

use std::collections::{BTreeSet, HashMap};

use crate::formats::dialects::{self, Reading, Tool};
use crate::formats::env_keys::{ENTRY_INFIX, ENTRY_PREFIX, HASHED, TAGGED};
use crate::formats::envfile::EnvFile;

/// One followed image of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry {
    /// The `<X>` of `SERVICE_<X>_IMAGE_TAGGED`.
    pub entry: String,
    /// The reference to resolve, after `${VAR}` interpolation.
    pub tagged: String,
    /// The current value of `SERVICE_<X>_IMAGE_HASHED`, if there is one.
    pub pinned: Option<String>,
    /// The line of the TAGGED entry.
    pub line: usize,
    /// The variables the TAGGED and HASHED values interpolate, directly or through other
    /// entries.
    pub uses: Vec<String>,
}

impl ImageEntry {
    /// `SERVICE_<X>_IMAGE_TAGGED`.
    pub fn tagged_key(&self) -> String {
        TAGGED.key(&self.entry)
    }

    /// `SERVICE_<X>_IMAGE_HASHED`.
    pub fn hashed_key(&self) -> String {
        HASHED.key(&self.entry)
    }
}

/// Whether `name` is a `SERVICE_<X>_IMAGE_<...>` variable, one that decides a pin.
pub fn is_pin_variable(name: &str) -> bool {
    name.strip_prefix(ENTRY_PREFIX)
        .and_then(|rest| rest.find(ENTRY_INFIX))
        .is_some_and(|i| i > 0)
}

/// The `<X>` of a TAGGED key.
fn tagged_entry(key: &str) -> Option<&str> {
    TAGGED.entry_in(key)
}

/// Finds the image entries of `env`, in file order, with the values every compose tool
/// reads. A file the tools read differently where it matters for a pin is refused: the
/// error names the line and the reason.
pub fn image_entries(env: &EnvFile) -> Result<Vec<ImageEntry>, (usize, String)> {
    let readings = dialects::read_all(env.render())?;
    let mut images: Vec<ImageEntry> = Vec::new();
    let mut hashed_lines: HashMap<&str, Vec<usize>> = HashMap::new();
    for entry in env.entries() {
        if HASHED.entry_in(&entry.key).is_some() {
            hashed_lines.entry(&entry.key).or_default().push(entry.line);
        }
    }
    let index = Index::new(env);
    let mut seen = BTreeSet::new();
    for entry in env.entries() {
        let Some(x) = tagged_entry(&entry.key) else {
            continue;
        };
        if !seen.insert(x) {
            return Err((entry.line, format!("{} is set twice", entry.key)));
        }
        let refuse = |msg: String| (entry.line, format!("{}: {msg}", entry.key));
        let (uses, unset) = references(&index, entry.line, &entry.value);
        if let Some(name) = unset {
            return Err(refuse(format!(
                "variable `{name}` is not set above this line (compose would take it from \
                 the environment)"
            )));
        }
        let tagged = dialects::agreed(&readings, &entry.key)
            .map_err(refuse)?
            .ok_or_else(|| refuse("the compose tools do not read this line as a key".into()))?;
        if tagged.is_empty()
            || tagged.contains(|c: char| c.is_whitespace() || c.is_control() || c == '#')
        {
            return Err(refuse(format!(
                "`{}` is not an image reference",
                tagged.escape_debug()
            )));
        }
        let hashed_key = HASHED.key(x);
        let lines = hashed_lines.get(hashed_key.as_str()).map_or(&[][..], |l| l);
        if let [_, second, ..] = lines {
            return Err((*second, format!("{hashed_key} is set twice")));
        }
        let pinned = pinned(&readings, &hashed_key, lines.first().copied())?;
        let mut uses = uses;
        if let Some((line, value)) = lines.first().and_then(|&l| index.above(&hashed_key, l + 1)) {
            // What the HASHED value interpolates decides the pin as much.
            uses.extend(references(&index, line, value).0);
            uses.sort();
            uses.dedup();
        }
        images.push(ImageEntry {
            entry: x.to_owned(),
            tagged,
            pinned,
            line: entry.line,
            uses,
        });
    }
    for (tool, reading) in &readings {
        if let Some(key) = reading
            .keys()
            .find(|k| tagged_entry(k).is_some_and(|x| !seen.contains(x)))
        {
            let line = reading.line(key).unwrap_or(1);
            return Err((
                line,
                format!(
                    "{} reads {key} here, cipug does not: the compose tools read this file \
                     differently",
                    tool.name()
                ),
            ));
        }
    }
    Ok(images)
}

/// The HASHED value every tool reads.
fn pinned(
    readings: &[(Tool, Reading)],
    key: &str,
    line: Option<usize>,
) -> Result<Option<String>, (usize, String)> {
    let line_of = |r: &Reading| r.line(key);
    let at = line
        .or_else(|| readings.iter().find_map(|(_, r)| line_of(r)))
        .unwrap_or(1);
    // Which line cipug edits is checked when it writes (`dialects::check_edit`).
    let agreed = dialects::agreed(readings, key).map_err(|e| (at, format!("{key}: {e}")))?;
    Ok(agreed.filter(|v| !v.is_empty()))
}

/// The variables `value` (of the entry on `line`) interpolates, following the entries
/// above it, and the first one used without a default that no entry above sets.
fn references(index: &Index<'_>, line: usize, value: &str) -> (Vec<String>, Option<String>) {
    let above = |name: &str, before: usize| {
        index
            .above(name, before)
            .map(|(line, value)| (line, value.to_owned()))
    };
    let mut uses = BTreeSet::new();
    let mut unset = None;
    let mut todo: Vec<(String, usize)> = Vec::new();
    for (name, defaulted) in names(value) {
        if !defaulted && above(&name, line).is_none() && unset.is_none() {
            unset = Some(name.clone());
        }
        todo.push((name, line));
    }
    while let Some((name, before)) = todo.pop() {
        if !uses.insert(name.clone()) {
            continue;
        }
        if let Some((at, v)) = above(&name, before) {
            todo.extend(names(&v).into_iter().map(|(n, _)| (n, at)));
        }
    }
    (uses.into_iter().collect(), unset)
}

/// The entries of a file by key, in file order, so that lookups stay cheap in big files.
struct Index<'a>(HashMap<&'a str, Vec<(usize, &'a str)>>);

impl<'a> Index<'a> {
    fn new(env: &'a EnvFile) -> Self {
        let mut map: HashMap<&str, Vec<(usize, &str)>> = HashMap::new();
        for e in env.entries() {
            map.entry(&e.key).or_default().push((e.line, &e.value));
        }
        Index(map)
    }

    /// The last entry named `key` on a line before `line`.
    fn above(&self, key: &str, line: usize) -> Option<(usize, &'a str)> {
        let entries = self.0.get(key)?;
        let n = entries.partition_point(|(l, _)| *l < line);
        n.checked_sub(1).map(|i| entries[i])
    }
}

/// The variable names in `value` (`$NAME`, `${NAME...}`), each with whether a default
/// (`-`, `:-`) covers it when unset.
fn names(value: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut depth_default = 0usize;
    let bytes = value.as_bytes();
    let mut i = 0;
    let mut opened: Vec<bool> = Vec::new();
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'$') => i += 2,
            b'$' => {
                let braced = bytes.get(i + 1) == Some(&b'{');
                let start = i + 1 + usize::from(braced);
                let len = value[start..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(value.len() - start);
                if len > 0 {
                    let rest = &value[start + len..];
                    let defaulted = braced && (rest.starts_with(":-") || rest.starts_with('-'));
                    out.push((
                        value[start..start + len].to_owned(),
                        defaulted || depth_default > 0,
                    ));
                    if braced {
                        opened.push(defaulted);
                        if defaulted {
                            depth_default += 1;
                        }
                    }
                }
                i = start + len;
            }
            b'}' => {
                if opened.pop() == Some(true) {
                    depth_default -= 1;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    out
}

/// For each entry with no HASHED value yet (a service just adopted, or put back to before its
/// first pin): `SERVICE_<X>_IMAGE_HASHED=<tagged reference>`, so that compose starts it on its
/// tag as before adoption instead of with an empty image.
pub fn tag_fallbacks(entries: &[ImageEntry]) -> Vec<(String, String)> {
    entries
        .iter()
        .filter(|i| i.pinned.is_none())
        .map(|i| (i.hashed_key(), i.tagged.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<ImageEntry>, (usize, String)> {
        image_entries(&EnvFile::parse(text.as_bytes()).unwrap())
    }

    #[test]
    fn finds_entries_with_underscores_and_interpolation() {
        let images = parse(
            "REG=127.0.0.1:5000\nVER=2\nSERVICE_MY_APP_IMAGE_TAGGED=${REG}/app:${VER:-1}\nSERVICE_MY_APP_IMAGE_HASHED=old\nSERVICE_DB_IMAGE_TAGGED=postgres\nSERVICE__IMAGE_TAGGED=x\n",
        )
        .unwrap();
        assert_eq!(images.len(), 2);
        assert_eq!(images[0].entry, "MY_APP");
        assert_eq!(images[0].tagged, "127.0.0.1:5000/app:2");
        assert_eq!(images[0].pinned.as_deref(), Some("old"));
        assert_eq!(images[0].hashed_key(), "SERVICE_MY_APP_IMAGE_HASHED");
        assert_eq!(images[1].pinned, None);
        assert_eq!(images[1].line, 5);
    }

    #[test]
    fn bad_entries_name_their_line() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "SERVICE_A_IMAGE_TAGGED=x\nSERVICE_A_IMAGE_TAGGED=y\n",
                2,
                "set twice",
            ),
            (
                "SERVICE_A_IMAGE_TAGGED=x\nSERVICE_A_IMAGE_HASHED=a\nSERVICE_A_IMAGE_HASHED=b\n",
                3,
                "set twice",
            ),
            ("\nSERVICE_A_IMAGE_TAGGED=${NOPE}\n", 2, "NOPE"),
            (
                "SERVICE_A_IMAGE_TAGGED=\"a b\"\n",
                1,
                "not an image reference",
            ),
            (
                "SERVICE_A_IMAGE_TAGGED=\"a\nEVIL=1\"\n",
                1,
                "not an image reference",
            ),
            ("SERVICE_A_IMAGE_TAGGED=\n", 1, "not an image reference"),
        ];
        for (text, line, msg) in cases {
            let (l, m) = parse(text).unwrap_err();
            assert_eq!(l, *line, "{text:?}: {m}");
            assert!(m.contains(msg), "{text:?}: {m}");
        }
    }
}
