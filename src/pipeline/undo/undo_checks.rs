//! The checks that make an undo safe. Before files are put back, no container of the
//! service's compose project may exist any more (a container that `down` left behind would
//! go on writing into the restored data); after the service is started again, the health
//! gate must see the restored pins run. When a check fails, the error says what state the
//! service is left in: which files, which pins, which containers.

use crate::adapters::compose::Compose;
use crate::adapters::container;
use crate::adapters::runner::Runner;
use crate::config::Config;
use crate::error::{Error, RestartError, Result};
use crate::pipeline::gate::expect::Moved;
use crate::pipeline::gate::{self, Expected};
use crate::pipeline::service::Service;
use crate::services::ServiceDir;

/// `X=<pin>` for each entry of `service`, for messages.
pub fn pins(service: &Service) -> String {
    let pins: Vec<String> = service
        .images
        .iter()
        .map(|i| {
            format!(
                "{}={}",
                i.entry,
                i.pinned.as_deref().unwrap_or("(unpinned)")
            )
        })
        .collect();
    if pins.is_empty() {
        "none".to_owned()
    } else {
        pins.join(", ")
    }
}

/// Makes sure no container of the service's project is left after the stop; removes what
/// remains. Refuses (nothing is restored then) when a container cannot be removed.
pub fn ensure_no_container(
    config: &Config,
    runner: &dyn Runner,
    dir: &ServiceDir,
    failed: Option<&Service>,
) -> Result<()> {
    container::remove_remaining(config, runner, &dir.project).map_err(|e| {
        Error::Restart(RestartError::NotRolledBack {
            service: dir.name.clone(),
            why: Box::new(e),
            pins: failed.map_or_else(|| "unreadable".to_owned(), pins),
        })
    })
}

/// What the gate expects after an undo from `failed` to `restored`: the restored pins run,
/// the failed ones no longer (see [`crate::pipeline::gate::expect`]).
pub fn expected_between(config: &Config, failed: Option<&Service>, restored: &Service) -> Expected {
    let pinned = restored
        .images
        .iter()
        .filter_map(|i| i.pinned.clone())
        .collect();
    crate::pipeline::gate::expect::after(config, &restored.dir, pinned, &moved(failed, restored))
}

/// The entries whose pins differ between `failed` and `restored` (every pinned one when the
/// failed version is not known).
fn moved(failed: Option<&Service>, restored: &Service) -> Vec<Moved> {
    restored
        .images
        .iter()
        .filter_map(|image| {
            let before = failed
                .and_then(|f| f.images.iter().find(|i| i.entry == image.entry))
                .and_then(|i| i.pinned.clone());
            let to = image
                .pinned
                .clone()
                .filter(|now| before.as_ref() != Some(now))?;
            Some(Moved {
                entry: image.entry.clone(),
                from: before,
                to,
            })
        })
        .collect()
}

/// Starts the service after its files were put back (`restored` says how) and checks with
/// the health gate that the restored pins run. The error says what runs now.
pub fn start_and_verify(
    config: &Config,
    runner: &dyn Runner,
    dir: &ServiceDir,
    restored: &str,
    expected: &Expected,
) -> Result<()> {
    let state = || container::current_state(config, runner, &dir.project);
    // The command reads the restored `.env`: it may use other variables than the failed one.
    runner.run(&Compose::new(config).start(dir)).map_err(|e| {
        Error::Restart(RestartError::RestoredNotStarted {
            service: dir.name.clone(),
            restored: restored.to_owned(),
            error: Box::new(e),
            state: state(),
        })
    })?;
    crate::base::failpoint::hit("rollback-restarted");
    gate::wait(config, runner, dir, expected).map_err(|why| {
        Error::Restart(RestartError::RestoredUnhealthy {
            service: dir.name.clone(),
            restored: restored.to_owned(),
            why,
            state: state(),
        })
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::envfile::EnvFile;
    use crate::formats::pins::image_entries;

    fn service(env: &str) -> Service {
        let env = EnvFile::parse(env.as_bytes()).unwrap();
        Service {
            dir: ServiceDir {
                name: "app".into(),
                path: "/srv/app".into(),
                env_file: "/srv/app/.env".into(),
                trusted: Default::default(),
                project: "svc".into(),
            },
            images: image_entries(&env).unwrap(),
            env,
        }
    }

    #[test]
    fn expects_the_restored_pins_and_not_the_failed_ones() {
        let failed = service(
            "SERVICE_A_IMAGE_TAGGED=r/a\nSERVICE_A_IMAGE_HASHED=r/a@sha256:2\nSERVICE_B_IMAGE_TAGGED=r/b\nSERVICE_B_IMAGE_HASHED=r/b@sha256:9\n",
        );
        let restored = service(
            "SERVICE_A_IMAGE_TAGGED=r/a\nSERVICE_A_IMAGE_HASHED=r/a@sha256:1\nSERVICE_B_IMAGE_TAGGED=r/b\nSERVICE_B_IMAGE_HASHED=r/b@sha256:9\n",
        );
        let moved_of = |failed| {
            moved(failed, &restored)
                .into_iter()
                .map(|m| (m.entry, m.from, m.to))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            moved_of(Some(&failed)),
            [(
                "A".to_owned(),
                Some("r/a@sha256:2".to_owned()),
                "r/a@sha256:1".to_owned()
            )]
        );
        assert_eq!(pins(&restored), "A=r/a@sha256:1, B=r/b@sha256:9");
        let to: Vec<String> = moved_of(None).into_iter().map(|m| m.2).collect();
        assert_eq!(to, ["r/a@sha256:1", "r/b@sha256:9"]);
    }
}
