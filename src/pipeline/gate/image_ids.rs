//! The image IDs the gate judges by: those of the pins that must run, of the pins they
//! replaced (which must not run), and of the pins a service keeps; and what a container on
//! the wrong one is told.

use crate::adapters::container::{self, image_id_cmd, short, Container};
use crate::adapters::runner::Runner;
use crate::config::Config;

use super::Expected;

/// The image IDs of the expected pins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageIds {
    /// (pin, image ID) that must run.
    pub(super) run: Vec<(String, String)>,
    /// (pin, image ID) that must not run.
    pub(super) replaced: Vec<(String, String)>,
    /// See [`Expected::services`].
    pub(super) services: Vec<String>,
    /// See [`Expected::one_shots`].
    pub(super) one_shots: Option<Vec<String>>,
    /// The image IDs of [`Expected::pinned`] that are in local storage.
    pub(super) kept: Vec<String>,
    /// See [`Expected::fixed`].
    pub(super) fixed: Vec<String>,
    /// (compose service, pin, image ID): see [`Expected::wanted`].
    pub(super) wanted: Vec<(String, String, String)>,
}

impl ImageIds {
    /// Asks the container tool for the image ID of each pin. A pin to run must be in local
    /// storage; a replaced pin that is not (pruned) cannot run either and is left out.
    pub fn resolve(
        config: &Config,
        runner: &dyn Runner,
        expected: &Expected,
    ) -> Result<ImageIds, String> {
        let id_of = |pin: &str| {
            runner
                .run(&image_id_cmd(config, pin))
                .map(|out| container::image_id(&out.stdout).to_owned())
        };
        let mut ids = ImageIds::default();
        for pin in &expected.run {
            let id = id_of(pin).map_err(|e| format!("{pin} is not in local storage: {e}"))?;
            ids.run.push((pin.clone(), id));
        }
        for pin in &expected.replaced {
            if let Ok(id) = id_of(pin) {
                ids.replaced.push((pin.clone(), id));
            }
        }
        if !ids.replaced.is_empty() {
            for pin in expected.pinned.iter().filter(|p| !expected.run.contains(p)) {
                ids.kept.extend(id_of(pin).ok());
            }
        }
        for (service, pin) in &expected.wanted {
            let id = match ids.run.iter().find(|(run, _)| run == pin) {
                Some((_, id)) => id.clone(),
                None => match id_of(pin) {
                    Ok(id) => id,
                    // Not pulled (a service no one runs): nothing can run it either.
                    Err(_) => continue,
                },
            };
            ids.wanted.push((service.clone(), pin.clone(), id));
        }
        ids.services = expected.services.clone();
        ids.one_shots = expected.one_shots.clone();
        ids.fixed = expected.fixed.clone();
        Ok(ids)
    }

    /// A gate over known IDs, for tests.
    pub fn new(run: Vec<(String, String)>, replaced: Vec<(String, String)>) -> ImageIds {
        ImageIds {
            run,
            replaced,
            ..ImageIds::default()
        }
    }

    /// Whether container `c` belongs to a compose service the update changed (all do when
    /// the services are not known).
    fn changed(&self, c: &Container) -> bool {
        self.services.is_empty() || self.services.iter().any(|s| s == c.compose_service())
    }

    /// Whether container `c`, which finished with exit code 0, is done: it runs a pin the
    /// update put in place, or belongs to a compose service the update did not change (and
    /// was started again with the whole project).
    pub(super) fn may_finish(&self, c: &Container) -> bool {
        let one_shot = self
            .one_shots
            .as_ref()
            .is_none_or(|s| s.iter().any(|s| s == c.compose_service()));
        !self.changed(c) || (one_shot && self.run.iter().any(|(_, run)| run == c.image_id()))
    }

    /// The replaced pin whose image container `c` runs, unless a pin in place has the same
    /// image or `c`'s compose service names its image without a variable.
    pub(super) fn replaced_pin(&self, c: &Container) -> Option<&str> {
        let id = c.image_id();
        if self.run.iter().any(|(_, run)| run == id)
            || self.kept.iter().any(|kept| kept == id)
            || self.fixed.iter().any(|s| s == c.compose_service())
        {
            return None;
        }
        self.replaced
            .iter()
            .find(|(_, replaced)| replaced == id)
            .map(|(pin, _)| pin.as_str())
    }

    /// Why container `c` fails the gate by its image: it runs a replaced pin's, or not the
    /// pin its compose service uses.
    pub(super) fn wrong_image(&self, c: &Container) -> Option<String> {
        let name = c.name();
        let id = c.image_id();
        if let Some(pin) = self.replaced_pin(c) {
            let service = c.compose_service();
            let hint = if self.changed(c) {
                String::new()
            } else {
                format!(" (compose service `{service}` was not recreated)")
            };
            return Some(format!(
                "{name} still runs {pin} (image {}), the image that was replaced{hint}",
                short(id)
            ));
        }
        let (service, pin, want) = self
            .wanted
            .iter()
            .find(|(s, _, want)| s == c.compose_service() && want != id)?;
        Some(format!(
            "{name} runs image {}, not {pin} (image {}) that compose service `{service}` uses",
            short(id),
            short(want)
        ))
    }
}
