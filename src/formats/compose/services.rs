//! What cipug reads from a compose file as a whole (with a YAML parser that resolves anchors
//! and merges): which compose services take their image from which
//! `SERVICE_<X>_IMAGE_HASHED` variable (so that only those are recreated when a pin moves),
//! and which volumes lie outside the service folder (so that `doctor` and `adopt` can say
//! they are not in the snapshot).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::formats::compose::limits;

/// Why a compose file gives no model: a limit, its YAML, or its structure.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Too large or nested too deep.
    #[error(transparent)]
    Limit(#[from] limits::LimitError),
    /// Not YAML.
    #[error(transparent)]
    Yaml(#[from] crate::formats::compose::yaml::YamlError),
    /// `services` is no mapping.
    #[error("`services` is not a mapping")]
    Services,
    /// One file of a project; its path as given.
    #[error("{path}: {error}")]
    File {
        /// The file's path.
        path: String,
        /// What is wrong with it.
        error: Box<ModelError>,
    },
}

/// A compose file, parsed (anchors and `<<` merges applied by [`crate::formats::compose::yaml`]).
#[derive(Debug, Clone, Default)]
pub struct ComposeServices {
    services: BTreeMap<String, Value>,
    /// The top-level `name:`, as written.
    name: Option<String>,
    /// The files the top-level `include:`s name and no one has read yet, each relative to
    /// the folder of the file that names it.
    includes: Vec<String>,
    /// Why this model may not be what the compose tool runs (an `include:` or an
    /// `extends:` cipug cannot follow): the caller then restarts the whole project.
    unsure: Vec<String>,
}

impl ComposeServices {
    /// Parses compose YAML, once [`limits::check`] has passed it. The error says what
    /// limit, YAML or compose structure is wrong.
    pub fn parse(text: &str) -> Result<ComposeServices, ModelError> {
        limits::check(text)?;
        let value = crate::formats::compose::yaml::load(text)?;
        let services = match value.get("services") {
            Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Some(Value::Null) | None => BTreeMap::new(),
            Some(_) => return Err(ModelError::Services),
        };
        let name = value.get("name").and_then(Value::as_str).map(str::to_owned);
        let mut file = ComposeServices {
            services,
            name,
            ..ComposeServices::default()
        };
        file.read_includes(value.get("include"));
        Ok(file)
    }

    /// Takes the paths of a top-level `include:` (short form, `path:` as a string or a
    /// list); anything else makes the model unsure.
    fn read_includes(&mut self, include: Option<&Value>) {
        let entries = match include {
            None | Some(Value::Null) => return,
            Some(Value::Array(entries)) => entries,
            Some(_) => {
                self.unsure.push("`include:` is not a list".into());
                return;
            }
        };
        for entry in entries {
            let paths = match entry {
                Value::Object(_) => entry.get("path"),
                short => Some(short),
            };
            match paths {
                Some(Value::String(path)) => self.includes.push(path.clone()),
                Some(Value::Array(paths)) if paths.iter().all(Value::is_string) => self
                    .includes
                    .extend(paths.iter().filter_map(Value::as_str).map(str::to_owned)),
                _ => self
                    .unsure
                    .push("an `include:` entry without a path cipug can read".into()),
            }
        }
    }

    /// The project the compose tool makes of `files` (each its path, for errors, and its
    /// text), merged in order as compose merges an override file (see
    /// [`ComposeServices::merge`]); then each service that `extends:` another of the same
    /// files without an `image:` of its own takes that one's. What the files include and an
    /// `extends:` with a `file:` are left to the caller, who reads files
    /// ([`ComposeServices::take_includes`], [`ComposeServices::extends_in_files`]).
    pub fn parse_project(files: &[(String, String)]) -> Result<ComposeServices, ModelError> {
        let mut project = ComposeServices::default();
        for (path, text) in files {
            let file = ComposeServices::parse(text).map_err(|error| ModelError::File {
                path: path.clone(),
                error: Box::new(error),
            })?;
            project.merge(path, file);
        }
        project.resolve_extends();
        Ok(project)
    }

    /// Merges `file` (read from `path`) over this project as compose merges an override or
    /// an included file: a service's keys in `file` replace the earlier ones, its `name:`
    /// wins. Paths `file` names (`include:`, `extends: file:`) are made relative to the
    /// folder of the first file instead of `path`'s.
    pub fn merge(&mut self, path: &str, mut file: ComposeServices) {
        let folder = Path::new(path).parent().unwrap_or(Path::new(""));
        let from_here = |p: &str| -> String {
            if Path::new(p).is_absolute() || p.contains('$') {
                p.to_owned()
            } else {
                folder.join(p).display().to_string()
            }
        };
        for service in file.services.values_mut() {
            let Some(Value::Object(extends)) = service.get_mut("extends") else {
                continue;
            };
            if let Some(Value::String(other)) = extends.get_mut("file") {
                *other = from_here(other);
            }
        }
        self.includes
            .extend(file.includes.iter().map(|p| from_here(p)));
        self.unsure.append(&mut file.unsure);
        self.name = file.name.or(self.name.take());
        for (name, service) in file.services {
            match (self.services.get_mut(&name), service) {
                (Some(Value::Object(base)), Value::Object(over)) => {
                    for (key, value) in over {
                        base.insert(key, value);
                    }
                }
                (_, service) => {
                    self.services.insert(name, service);
                }
            }
        }
    }

    /// The `include:`d files not read yet (relative to the first file's folder), now taken
    /// out: the caller reads each and [`ComposeServices::merge`]s it.
    pub fn take_includes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.includes)
    }

    /// The services that `extends:` one of another file, not followed yet: (service, file
    /// relative to the first file's folder, the service it extends there).
    pub fn extends_in_files(&self) -> Vec<(String, String, String)> {
        self.services
            .iter()
            .filter_map(|(name, s)| {
                let extends = s.get("extends")?;
                let file = extends.get("file")?.as_str()?.to_owned();
                let base = extends.get("service")?.as_str()?.to_owned();
                Some((name.clone(), file, base))
            })
            .collect()
    }

    /// The service `name` as this project has it, for another file's `extends:`.
    pub fn service(&self, name: &str) -> Option<&Value> {
        self.services.get(name)
    }

    /// Makes `service` extend `base` (another file's service, already resolved): the keys
    /// `service` does not set come from `base`.
    pub fn extend_with(&mut self, service: &str, base: &Value) {
        let (Some(Value::Object(own)), Value::Object(base)) =
            (self.services.get_mut(service), base)
        else {
            return;
        };
        own.remove("extends");
        for (key, value) in base {
            if own.get(key).is_none() && key != "extends" {
                own.insert(key.clone(), value.clone());
            }
        }
    }

    /// Says that the model may miss what `why` names: see [`ComposeServices::unsure`].
    pub fn doubt(&mut self, why: String) {
        self.unsure.push(why);
    }

    /// Why this model may not be what the compose tool runs; empty when cipug read every
    /// file the tool reads.
    pub fn unsure(&self) -> &[String] {
        &self.unsure
    }

    /// Resolves the `extends:` within the project (after every file was merged).
    pub fn finish(&mut self) {
        self.resolve_extends();
    }

    /// The compose services whose `image:` is written without a variable: no pin of cipug
    /// decides what they run.
    pub fn fixed_services(&self) -> Vec<String> {
        self.services
            .iter()
            .filter(|(_, s)| {
                s.get("image")
                    .and_then(Value::as_str)
                    .is_some_and(|i| !i.contains('$'))
            })
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The names of the compose services, in name order.
    pub fn service_names(&self) -> Vec<String> {
        self.services.keys().cloned().collect()
    }

    /// The profiles `service` is in; empty: it always runs.
    pub fn profiles(&self, service: &str) -> Vec<String> {
        match self.services.get(service).and_then(|s| s.get("profiles")) {
            Some(Value::Array(p)) => p
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Gives each service that extends another (of the same files) and has no `image:` the
    /// image of the one it extends, through chains of at most ten.
    fn resolve_extends(&mut self) {
        for _ in 0..10 {
            let inherited: Vec<(String, Value)> = self
                .services
                .iter()
                .filter(|(_, s)| s.get("image").is_none())
                .filter_map(|(name, s)| {
                    let base = match s.get("extends")? {
                        Value::String(base) => base.clone(),
                        Value::Object(m) if m.get("file").is_none() => {
                            m.get("service")?.as_str()?.to_owned()
                        }
                        _ => return None,
                    };
                    let image = self.services.get(&base)?.get("image")?.clone();
                    Some((name.clone(), image))
                })
                .collect();
            if inherited.is_empty() {
                return;
            }
            for (name, image) in inherited {
                if let Some(Value::Object(service)) = self.services.get_mut(&name) {
                    service.insert("image".to_owned(), image);
                }
            }
        }
    }

    /// The top-level `name:` (the project's name), as written.
    pub fn project_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The compose services whose `image:` uses one of `entries`' HASHED variables, in name
    /// order.
    pub fn services_using(&self, entries: &[&str]) -> Vec<String> {
        self.services
            .iter()
            .filter(|(_, service)| {
                let image = service.get("image").and_then(Value::as_str).unwrap_or("");
                variables(image).iter().any(|var| {
                    entries
                        .iter()
                        .any(|entry| *var == crate::formats::env_keys::HASHED.key(entry))
                })
            })
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The seconds compose gives the containers of `service` to stop on TERM before it kills
    /// them: its `stop_grace_period` (a duration such as `2s` or `1m30s`, rounded up), 10
    /// when unset. `None` when the value is not a plain duration (a variable, a number), so
    /// that the compose tool, which knows, stops them.
    pub fn stop_grace_secs(&self, service: &str) -> Option<u64> {
        match self.services.get(service)?.get("stop_grace_period") {
            None | Some(Value::Null) => Some(DEFAULT_STOP_GRACE_SECS),
            Some(Value::String(text)) => duration_secs(text),
            Some(_) => None,
        }
    }

    /// Named volumes and bind mounts outside `folder`, as `<service>: <source>` lines: they
    /// are not in the folder's snapshot and a rollback does not put them back.
    pub fn outside_volumes(&self, folder: &Path) -> Vec<String> {
        let mut found = Vec::new();
        for (name, service) in &self.services {
            let Some(Value::Array(volumes)) = service.get("volumes") else {
                continue;
            };
            for volume in volumes {
                let (kind, source) = match volume {
                    Value::String(short) => {
                        let source = short.split(':').next().unwrap_or("");
                        if !short.contains(':') {
                            // An anonymous volume (`/data`): lives in the container tool's storage.
                            ("volume", source.to_owned())
                        } else if is_path(source) {
                            ("bind", source.to_owned())
                        } else {
                            ("volume", source.to_owned())
                        }
                    }
                    Value::Object(_) => {
                        let kind = volume.get("type").and_then(Value::as_str).unwrap_or("");
                        let source = volume.get("source").and_then(Value::as_str).unwrap_or("");
                        (
                            if kind == "bind" { "bind" } else { "volume" },
                            source.to_owned(),
                        )
                    }
                    _ => continue,
                };
                match kind {
                    "bind" if inside(folder, &source) => {}
                    "bind" => {
                        found.push(format!("{name}: bind mount {source} is outside the folder"))
                    }
                    _ if volume.get("type").and_then(Value::as_str) == Some("tmpfs") => {}
                    _ => found.push(format!(
                        "{name}: volume {} lives in the container tool's storage",
                        if source.is_empty() {
                            "(anonymous)"
                        } else {
                            &source
                        }
                    )),
                }
            }
        }
        found
    }
}

/// What both compose tools give a container to stop when the file says nothing.
pub const DEFAULT_STOP_GRACE_SECS: u64 = 10;

/// A compose duration (Go's form: `1h30m`, `2s`, `1.5s`, `500ms`) in whole seconds, rounded
/// up; `None` for anything else.
fn duration_secs(text: &str) -> Option<u64> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0_f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    (total.is_finite() && total < 1e9).then(|| total.ceil() as u64)
}

/// Whether a short-syntax volume source is a path (a bind mount) rather than a volume name.
fn is_path(source: &str) -> bool {
    source.starts_with('/')
        || source.starts_with('.')
        || source.starts_with('~')
        || source.starts_with('$')
}

/// Whether the bind source `source`, relative to `folder`, stays inside it (`..` resolved
/// by name; variables count as outside: their value is not known here).
fn inside(folder: &Path, source: &str) -> bool {
    if source.starts_with('$') || source.starts_with('~') {
        return false;
    }
    let joined = folder.join(source);
    let mut normal = PathBuf::new();
    for part in joined.components() {
        match part {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    normal.starts_with(folder)
}

/// The variable names an interpolated value uses: `$NAME`, `${NAME}`, `${NAME:-x}`, ...
fn variables(value: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        if bytes.get(i + 1) == Some(&b'$') {
            i += 2;
            continue;
        }
        let start = if bytes.get(i + 1) == Some(&b'{') {
            i + 2
        } else {
            i + 1
        };
        let end = bytes[start..]
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
            .map_or(bytes.len(), |n| start + n);
        if end > start {
            names.push(&value[start..end]);
        }
        i = end.max(i + 1);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_files_and_extends_make_one_project() {
        let main = "name: base\nservices:\n  app:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n  db:\n    image: postgres:16\n  worker:\n    extends: app\n    command: work\n  cron:\n    extends:\n      service: worker\n  other:\n    extends:\n      file: common.yml\n      service: app\n";
        let over = "services:\n  db:\n    image: ${SERVICE_DB_IMAGE_HASHED}\n  sidekick:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n";
        let project = ComposeServices::parse_project(&[
            ("compose.yml".into(), main.into()),
            ("compose.override.yml".into(), over.into()),
        ])
        .unwrap();
        assert_eq!(
            project.services_using(&["APP"]),
            ["app", "cron", "sidekick", "worker"],
            "extends (through a chain) and the override file; not another file's extends"
        );
        assert_eq!(
            project.services_using(&["DB"]),
            ["db"],
            "the override's image wins"
        );
        assert_eq!(project.project_name(), Some("base"));
        let err = ComposeServices::parse_project(&[(
            "compose.override.yml".into(),
            "services: [".into(),
        )])
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("compose.override.yml: "), "{err}");
    }

    #[test]
    fn stop_grace_is_the_compose_duration_rounded_up() {
        let file = ComposeServices::parse(
            "services:\n  a:\n    stop_grace_period: 1m30s\n  b:\n    stop_grace_period: 1.5s\n  c: {}\n  d:\n    stop_grace_period: ${GRACE}\n  e:\n    stop_grace_period: 500ms\n  f:\n    stop_grace_period: 5\n  g:\n    stop_grace_period: 2 weeks\n",
        )
        .unwrap();
        let grace = |s: &str| file.stop_grace_secs(s);
        assert_eq!(grace("a"), Some(90));
        assert_eq!(grace("b"), Some(2));
        assert_eq!(grace("c"), Some(DEFAULT_STOP_GRACE_SECS));
        assert_eq!(grace("e"), Some(1));
        // Left to the compose tool: a variable, a bare number, no duration, no service.
        for unknown in ["d", "f", "g", "nope"] {
            assert_eq!(grace(unknown), None, "{unknown}");
        }
        assert_eq!(duration_secs("1h2m3s"), Some(3723));
        assert_eq!(duration_secs(""), None);
        assert_eq!(duration_secs("-1s"), None);
    }

    const FILE: &str = "x-common: &common\n  restart: unless-stopped\nservices:\n  app:\n    <<: *common\n    image: ${SERVICE_APP_IMAGE_HASHED}\n    volumes:\n      - ./data:/data\n      - ../shared:/shared\n      - dbdata:/var/lib/db\n  db:\n    image: \"$SERVICE_DB_IMAGE_HASHED\"\n    volumes:\n      - type: bind\n        source: /srv/elsewhere\n        target: /x\n      - type: tmpfs\n        target: /tmp\n  web:\n    image: ${SERVICE_WEB_IMAGE_HASHED:-nginx}\n  other:\n    image: nginx:1\nvolumes:\n  dbdata:\n";

    #[test]
    fn services_using_changed_variables() {
        let file = ComposeServices::parse(FILE).unwrap();
        assert_eq!(file.services_using(&["APP"]), vec!["app"]);
        assert_eq!(file.services_using(&["DB", "WEB"]), vec!["db", "web"]);
        assert!(file.services_using(&["NONE"]).is_empty());
        assert!(file.services_using(&["AP"]).is_empty(), "whole names only");
    }

    #[test]
    fn variables_in_values() {
        assert_eq!(variables("${A}x$B-${C:-d}$$E"), vec!["A", "B", "C"]);
        assert!(variables("nginx:1").is_empty());
    }

    #[test]
    fn volumes_outside_the_folder() {
        let file = ComposeServices::parse(FILE).unwrap();
        assert_eq!(
            file.outside_volumes(Path::new("/srv/svc")),
            vec![
                "app: bind mount ../shared is outside the folder",
                "app: volume dbdata lives in the container tool's storage",
                "db: bind mount /srv/elsewhere is outside the folder",
            ]
        );
    }

    #[test]
    fn broken_files_are_errors() {
        assert!(ComposeServices::parse("services: [\n").is_err());
        assert!(ComposeServices::parse("services: 3\n").is_err());
        assert!(ComposeServices::parse("")
            .unwrap()
            .services_using(&["A"])
            .is_empty());
    }
}
