//! Whether a project is ready for an update, judged before anything is touched: a project
//! whose unchanged containers are not well already (restarting, unhealthy, exited with a
//! failure, dead) is not updated, since its health gate could not tell the update's fault
//! from what was wrong before, and a rollback would restore data the update never broke.
//! A one-shot container that finished with exit code 0 is done, not failing.

use std::collections::BTreeMap;

use crate::adapters::container::{self, Container};
use crate::adapters::runner::Runner;
use crate::config::Config;
use crate::pipeline::project::restart;
use crate::pipeline::select::Prepared;

/// The services with changes whose project is not ready, with why (naming the containers).
pub fn not_ready(
    config: &Config,
    runner: &dyn Runner,
    prepared: &[Prepared<'_>],
) -> BTreeMap<String, String> {
    if !config.service_stop_start {
        return BTreeMap::new();
    }
    prepared
        .iter()
        .filter(|work| !work.changes.is_empty() && work.resume.is_none())
        .filter_map(|work| {
            let (dir, changes) = (&work.service.dir, &work.changes);
            let containers = match container::list(config, runner, &dir.project) {
                Ok(containers) => containers,
                Err(e) => {
                    log::debug!("{}: containers not read before the update: {e}", dir.name);
                    return None;
                }
            };
            let entries: Vec<&str> = changes.iter().map(|c| c.entry.as_str()).collect();
            let changing = restart::services_using(config, dir, &entries);
            if changing.is_empty() {
                // The changed services are not known: nothing can be told apart.
                return None;
            }
            judge(&containers, &changing).map(|why| (dir.name.clone(), why))
        })
        .collect()
}

/// Why the containers not of the `changing` compose services say the project is not ready;
/// `None` when they are well. With no compose services known, every container counts.
pub fn judge(containers: &[Container], changing: &[String]) -> Option<String> {
    let unwell: Vec<String> = containers
        .iter()
        .filter(|c| !changing.iter().any(|s| s == c.compose_service()))
        .filter(|c| unwell(c))
        .map(Container::describe)
        .collect();
    (!unwell.is_empty()).then(|| {
        format!(
            "not ready, so not updated (nothing was touched): {} was not well before the update; fix it first",
            unwell.join("; ")
        )
    })
}

/// Restarting, unhealthy, exited with a failure, or dead.
fn unwell(container: &Container) -> bool {
    let status = container.status();
    // 137 and 143: stopped by SIGKILL or SIGTERM (`docker stop`, `podman stop`): stopped on
    // purpose, not failing.
    let failed = !matches!(container.state.exit_code, 0 | 137 | 143);
    status == "restarting"
        || status == "dead"
        || container.health().as_deref() == Some("unhealthy")
        || (matches!(status.as_str(), "exited" | "stopped") && failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(name: &str, service: &str, status: &str, exit: i64, health: &str) -> Container {
        let health = if health.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::json!({"Status": health})
        };
        let json = serde_json::json!([{
            "Id": format!("{name}0123456789"), "Name": name, "Image": "sha256:abc", "RestartCount": 0,
            "State": {"Status": status, "StartedAt": "2026-01-01T00:00:00Z", "ExitCode": exit, "Health": health},
            "Config": {"Labels": {"com.docker.compose.service": service}}
        }]);
        container::parse_inspect(&json.to_string())
            .unwrap()
            .remove(0)
    }

    #[test]
    fn unchanged_containers_are_judged_as_they_are() {
        let changing = ["app".to_owned()];
        let cases = [
            (container("db", "db", "running", 0, ""), None),
            (container("db", "db", "running", 0, "healthy"), None),
            (container("init", "init", "exited", 0, ""), None),
            (
                container("db", "db", "restarting", 1, ""),
                Some("db restarting"),
            ),
            (
                container("db", "db", "running", 0, "unhealthy"),
                Some("(unhealthy)"),
            ),
            (
                container("init", "init", "exited", 3, ""),
                Some("exit code 3"),
            ),
            // Stopped on purpose by the admin.
            (container("db", "db", "exited", 143, ""), None),
            (container("db", "db", "exited", 137, ""), None),
            // The one being replaced may be broken: the update may be its fix.
            (container("app", "app", "exited", 1, ""), None),
        ];
        for (c, want) in cases {
            let got = judge(std::slice::from_ref(&c), &changing);
            match want {
                None => assert!(got.is_none(), "{}: {got:?}", c.describe()),
                Some(words) => {
                    let got = got.unwrap_or_default();
                    assert!(got.contains(words) && got.contains("not ready"), "{got}");
                }
            }
        }
    }
}
