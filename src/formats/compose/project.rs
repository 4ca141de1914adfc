//! The name of a service folder's compose project, as its compose tool derives it (the
//! containers carry it in their `com.docker.compose.project` label, which is how cipug
//! finds them): `COMPOSE_PROJECT_NAME` in the `.env`, then the compose file's top-level
//! `name:`, then the folder's name, each only where the tool reads it (see
//! [`ComposeFlavour::reads_project_name_from_env`]); lower case, keeping only `a-z`, `0-9`,
//! `_` and `-`. podman-compose 1.1 to 1.3 take the file's `name:` first, as written.

use crate::formats::compose::version::ComposeFlavour;

/// The project name from what the tool reads: the folder's name, the `.env`'s
/// `COMPOSE_PROJECT_NAME` and the file's `name:` (one with a variable in it is not
/// followed: the folder's name then stands).
pub fn name(
    flavour: &ComposeFlavour,
    folder: &str,
    env_value: Option<&str>,
    file_name: Option<&str>,
) -> String {
    let usable = |v: &&str| !v.trim().is_empty() && !v.contains('$');
    if let Some(value) = file_name.filter(usable) {
        if flavour.project_name_file_first() {
            return value.to_owned();
        }
    }
    if let Some(value) = env_value.filter(usable) {
        if flavour.reads_project_name_from_env() {
            return normalize(value);
        }
    }
    if let Some(value) = file_name.filter(usable) {
        if flavour.reads_project_name_from_file() {
            return normalize(value);
        }
    }
    normalize(folder)
}

/// A project name as compose tools normalise it.
pub fn normalize(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tool_reads_what_it_reads() {
        let old = ComposeFlavour::parse("podman-composer version  1.0.3");
        let new = ComposeFlavour::parse("podman-compose version 1.6.0");
        let trixie = ComposeFlavour::parse("podman-compose version 1.3.0");
        let v1 = ComposeFlavour::parse("docker-compose version 1.29.2, build unknown");
        let v2 = ComposeFlavour::parse("Docker Compose version 2.26.1-4");
        let unknown = ComposeFlavour::default();
        let env = Some("From-Env");
        let file = Some("from file");
        let cases = [
            (&old, env, file, "my.app"),
            (&new, env, file, "from-env"),
            (&new, None, file, "fromfile"),
            (&v1, env, file, "from-env"),
            (&v1, None, file, "myapp"),
            (&v2, None, file, "fromfile"),
            (&v2, env, file, "from-env"),
            // podman-compose 1.1 to 1.3: the file's name first, as it is written.
            (&trixie, env, Some("File-Name"), "File-Name"),
            (&trixie, env, None, "from-env"),
            (&trixie, None, Some("${NAME}"), "myapp"),
            (&unknown, env, file, "myapp"),
            (&new, Some("${NAME}"), Some(""), "myapp"),
        ];
        for (flavour, env, file, want) in cases {
            let want = if want == "my.app" { "myapp" } else { want };
            assert_eq!(
                name(flavour, "My.App", env, file),
                want,
                "{flavour} {env:?} {file:?}"
            );
        }
        assert_eq!(normalize("UPPER-Case_1"), "upper-case_1");
        assert_eq!(normalize("a b$c"), "abc");
    }
}
