//! An update's dependents in other folders ([`crate::pipeline::project::dependents`]): removed
//! before the provider stops, and handed to the caller to start again after its gate.

use super::Updater;
use crate::error::Result;
use crate::pipeline::project::dependents::{restart, Graph};
use crate::pipeline::project::restart::Plan;
use crate::pipeline::service::Service;

impl<'a> Updater<'a> {
    /// The updater, knowing the dependencies between the run's service folders: an update
    /// then removes the containers of other folders that joined what it stops.
    pub fn knowing(mut self, graph: &'a Graph) -> Self {
        self.graph = Some(graph);
        self
    }

    /// What the last update did to its dependents in other folders, for
    /// [`restart::bring_up`].
    pub fn taken_down(&mut self) -> restart::TakenDown {
        std::mem::take(&mut self.taken)
    }

    /// Removes the containers of other folders that joined what `plan` stops (all of the
    /// project's containers unless it recreates some compose services only).
    pub(super) fn take_down_outside(&mut self, service: &Service, plan: &Plan) -> Result<()> {
        self.taken.restarted = true;
        let Some(graph) = self.graph else {
            return Ok(());
        };
        let stopped: Option<Vec<String>> = match plan {
            Plan::Services { .. } => Some(
                plan.container_ids()
                    .into_iter()
                    .filter(|id| !plan.unchanged().iter().any(|c| &c.id == id))
                    .collect(),
            ),
            _ => None,
        };
        let name = &service.dir.name;
        let outside = graph.outside(name, stopped.as_deref());
        // Counted before the removal: what a failed removal took down still starts again.
        self.taken.removed.extend(outside.iter().cloned());
        restart::take_down(self.config, self.runner, name, &outside)
    }
}
