//! The health gate of an update: what it expects (see [`crate::pipeline::gate::expect`]), judged
//! against what the project was before, and which containers the update created.

use crate::adapters::container::Container;
use crate::adapters::runner::Runner;
use crate::config::Config;
use crate::error::{Error, RestartError, Result};
use crate::pipeline::gate;
use crate::pipeline::gate::expect::Moved;
use crate::pipeline::project::restart::Plan;
use crate::pipeline::service::{Change, Service};

/// What the gate judges against: the containers the update leaves as they are (as they were
/// before it), and which changed compose services were finished one-shots.
#[derive(Debug, Default, Clone)]
pub(super) struct Before {
    pub(super) unchanged: Vec<Container>,
    pub(super) one_shots: Option<Vec<String>>,
    /// Every container of the project before the update (known for a restart of some
    /// compose services only; otherwise every container is new after it).
    pub(super) ids: Vec<String>,
}

impl Before {
    pub(super) fn of(plan: &Plan) -> Before {
        Before {
            unchanged: plan.unchanged().to_vec(),
            one_shots: plan.one_shots().map(<[String]>::to_vec),
            ids: plan.container_ids(),
        }
    }
}

/// The health gate after `changes` to `service`: see [`crate::pipeline::gate::expect`]; the
/// `unchanged` containers (as they were before the update) are no worse. The names of the
/// containers it saw that were not there before.
pub(super) fn gate_after(
    config: &Config,
    runner: &dyn Runner,
    service: &Service,
    changes: &[Change],
    before: &Before,
) -> Result<Vec<String>> {
    let mut expected = expected(config, service, changes);
    expected.unchanged = before.unchanged.clone();
    expected.one_shots = before.one_shots.clone();
    let passed = gate::wait(config, runner, &service.dir, &expected)
        .map_err(|e| Error::Restart(RestartError::Gate(e)))?;
    Ok(passed
        .iter()
        .filter(|c| !before.ids.contains(&c.id))
        .map(|c| c.name().to_owned())
        .collect())
}

/// What the health gate expects after `changes` to `service`.
fn expected(config: &Config, service: &Service, changes: &[Change]) -> gate::Expected {
    // Every entry of the `.env`, also those a run leaves alone (`update --pins`).
    let entries = crate::formats::pins::image_entries(&service.env).unwrap_or_default();
    let pinned = entries
        .iter()
        .filter_map(|i| match changes.iter().find(|c| c.entry == i.entry) {
            Some(c) => Some(c.new.as_str().to_owned()),
            None => i.pinned.clone(),
        })
        .collect();
    let moved: Vec<Moved> = changes
        .iter()
        .map(|c| Moved {
            entry: c.entry.clone(),
            from: c.old.clone(),
            to: c.new.as_str().to_owned(),
        })
        .collect();
    crate::pipeline::gate::expect::after(config, &service.dir, pinned, &moved)
}
