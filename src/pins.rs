//! The image entries of a service's env file: `SERVICE_<X>_IMAGE_TAGGED` (what to follow)
//! and `SERVICE_<X>_IMAGE_HASHED` (what is pinned). Pure: works on a parsed [`EnvFile`].

use crate::envfile::{interpolate, EnvFile};

const PREFIX: &str = "SERVICE_";
const TAGGED: &str = "_IMAGE_TAGGED";
const HASHED: &str = "_IMAGE_HASHED";

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
}

impl ImageEntry {
    /// `SERVICE_<X>_IMAGE_TAGGED`.
    pub fn tagged_key(&self) -> String {
        format!("{PREFIX}{}{TAGGED}", self.entry)
    }

    /// `SERVICE_<X>_IMAGE_HASHED`.
    pub fn hashed_key(&self) -> String {
        format!("{PREFIX}{}{HASHED}", self.entry)
    }
}

/// Finds the image entries of `env`, in file order. The error names the line.
pub fn image_entries(env: &EnvFile) -> Result<Vec<ImageEntry>, (usize, String)> {
    let vars = env.variables();
    let mut images: Vec<ImageEntry> = Vec::new();
    for entry in env.entries() {
        let Some(x) = entry
            .key
            .strip_prefix(PREFIX)
            .and_then(|k| k.strip_suffix(TAGGED))
            .filter(|x| !x.is_empty())
        else {
            continue;
        };
        if images.iter().any(|i| i.entry == x) {
            return Err((entry.line, format!("{} is set twice", entry.key)));
        }
        let tagged = match entry.quote {
            crate::envfile::Quote::Single => entry.value.clone(),
            _ => interpolate(&entry.value, |name| vars.get(name).cloned())
                .map_err(|e| (entry.line, format!("{}: {}", entry.key, e.escape_debug())))?,
        };
        if tagged.is_empty()
            || tagged.contains(|c: char| c.is_whitespace() || c.is_control() || c == '#')
        {
            return Err((
                entry.line,
                format!(
                    "{}: `{tagged}` is not an image reference",
                    entry.key,
                    tagged = tagged.escape_debug()
                ),
            ));
        }
        let hashed_key = format!("{PREFIX}{x}{HASHED}");
        let hashed: Vec<_> = env
            .entries()
            .iter()
            .filter(|e| e.key == hashed_key)
            .collect();
        if let [_, second, ..] = hashed.as_slice() {
            return Err((second.line, format!("{hashed_key} is set twice")));
        }
        images.push(ImageEntry {
            entry: x.to_owned(),
            tagged,
            pinned: hashed
                .first()
                .map(|e| e.value.clone())
                .filter(|v| !v.is_empty()),
            line: entry.line,
        });
    }
    Ok(images)
}

/// For each entry with no HASHED value yet (a service just adopted, or put back to before its
/// first pin): `SERVICE_<X>_IMAGE_HASHED=<tagged reference>`, so that compose starts it on its
/// tag as before adoption instead of with an empty image.
pub fn tag_fallbacks(env: &EnvFile) -> Vec<(String, String)> {
    image_entries(env)
        .unwrap_or_default()
        .into_iter()
        .filter(|i| i.pinned.is_none())
        .map(|i| {
            let key = i.hashed_key();
            (key, i.tagged)
        })
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
