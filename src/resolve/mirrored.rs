//! Resolving through registries.conf mirrors and `location` rewrites, as podman pulls: each
//! candidate of [`crate::formats::registries_conf::candidates`] is asked in order and the first answer
//! wins. The pin keeps the name as written (`docker.io/library/nginx@...`), so podman pulls it
//! through the same mirrors.

use crate::formats::image::reference::{ImageRef, Pin};
use crate::formats::registries_conf::{candidates, Rule};

use super::{Resolve, ResolveError};

/// A resolver that asks the mirrors first.
pub struct Mirrored<'a> {
    inner: Box<dyn Resolve + 'a>,
    rules: Vec<Rule>,
}

impl<'a> Mirrored<'a> {
    /// Wraps `inner` with the registries.conf `rules`.
    pub fn new(inner: Box<dyn Resolve + 'a>, rules: Vec<Rule>) -> Self {
        Mirrored { inner, rules }
    }
}

impl Resolve for Mirrored<'_> {
    fn resolve(&self, image: &ImageRef, written: &str) -> Result<Pin, ResolveError> {
        let list = candidates(&self.rules, image)?;
        let mut failures = Vec::new();
        for candidate in &list {
            match self.inner.resolve(candidate, written) {
                Ok(pin) if candidate == image => return Ok(pin),
                Ok(pin) => {
                    log::debug!("{image}: resolved through {candidate}");
                    return Ok(Pin::new(&image.name(), pin.digest())?);
                }
                Err(e) => failures.push(e),
            }
        }
        // The location's error last, the mirrors' before it.
        Err(ResolveError::of_places(failures))
    }

    fn jobs(&self) -> usize {
        self.inner.jobs()
    }

    fn prepare(&self, images: &[&ImageRef]) {
        let all: Vec<ImageRef> = images
            .iter()
            .flat_map(|i| candidates(&self.rules, i).unwrap_or_default())
            .collect();
        let refs: Vec<&ImageRef> = all.iter().collect();
        self.inner.prepare(&refs);
    }
}
