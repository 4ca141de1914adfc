//! Turning image tags into pins (`<name>@sha256:...`), through the cache and a resolver.
//!
//! Each distinct reference of a run is resolved once; the references run through a bounded
//! pool of worker threads whose size the resolver chooses.

pub mod cache;
pub mod mirrored;
pub mod native;
pub mod skopeo;

use std::collections::BTreeMap;

use crate::adapters::runner::RunError;
use crate::base::parallel::parallel_map;
use crate::formats::image::reference::{ImageRef, ParseError, Pin};
use crate::formats::registries_conf::MirrorError;

pub use cache::Cache;
pub use native::RegistryError;

/// Why a reference has no pin: the reference, registries.conf, or what the registry or
/// skopeo answered.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The reference (or the pin a registry gave) does not parse.
    #[error(transparent)]
    Reference(#[from] ParseError),
    /// registries.conf blocks the image, or makes no reference of it.
    #[error(transparent)]
    Mirror(#[from] MirrorError),
    /// What the registry answered, or why it could not be asked.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// skopeo ran and failed; `said` is the last line of what it printed.
    #[error("skopeo {status}: {said}")]
    Skopeo {
        /// How it exited.
        status: String,
        /// Its last line on standard error.
        said: String,
        /// The failed run.
        #[source]
        error: Box<RunError>,
    },
    /// skopeo could not be run.
    #[error(transparent)]
    Run(Box<RunError>),
    /// skopeo printed something other than its JSON.
    #[error("unexpected skopeo output: {0}")]
    SkopeoOutput(#[source] serde_json::Error),
    /// Every place failed: the location's error, then the mirrors' before it.
    #[error("{last} (mirrors: {})", join(.mirrors))]
    Mirrors {
        /// The location's error.
        last: Box<ResolveError>,
        /// The mirrors' errors, in the order they were asked.
        mirrors: Vec<ResolveError>,
    },
}

impl ResolveError {
    /// The error of asking several places in turn: the last one's, with the others' after
    /// it (`last (mirrors: a; b)`) when there were others.
    pub fn of_places<E: Into<ResolveError>>(mut failures: Vec<E>) -> ResolveError {
        let Some(last) = failures.pop() else {
            return RegistryError::from(String::new()).into();
        };
        let last = last.into();
        if failures.is_empty() {
            return last;
        }
        ResolveError::Mirrors {
            last: Box::new(last),
            mirrors: failures.into_iter().map(Into::into).collect(),
        }
    }
}

/// `a; b`: the errors' messages.
fn join(errors: &[ResolveError]) -> String {
    let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    texts.join("; ")
}

/// Something that resolves one image reference.
pub trait Resolve: Sync {
    /// Resolves `image` (already parsed) to its pin; the error says what went wrong, with
    /// what the registry or tool said.
    fn resolve(&self, image: &ImageRef, written: &str) -> Result<Pin, ResolveError>;

    /// How many references may be resolved at the same time.
    fn jobs(&self) -> usize;

    /// Called once with every reference of the run before any is resolved, e.g. to get one
    /// token for many repositories.
    fn prepare(&self, _images: &[&ImageRef]) {}
}

/// A borrowed resolver resolves as the resolver it borrows (one client serves a whole run).
impl<T: Resolve + ?Sized> Resolve for &T {
    fn resolve(&self, image: &ImageRef, written: &str) -> Result<Pin, ResolveError> {
        (**self).resolve(image, written)
    }

    fn jobs(&self) -> usize {
        (**self).jobs()
    }

    fn prepare(&self, images: &[&ImageRef]) {
        (**self).prepare(images)
    }
}

/// The outcome for each distinct reference.
pub type Resolutions = BTreeMap<String, Result<Pin, ResolveError>>;

/// Resolves every reference in `images` (duplicates once), each with the pin it has now
/// (`None`: unpinned, or not an entry's own tag), and stores new results in the cache.
/// `now` is the current Unix time in seconds.
///
/// A cached answer may only confirm: it is used when it equals the pin of every entry with
/// that reference. Anything that would move a pin (a cached digest other than the pin, a
/// first pin, a tag move's target) is asked live, so a stale cache can never move a pin,
/// back or forth.
pub fn resolve_all<'a>(
    resolver: &dyn Resolve,
    images: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    cache: &mut Cache,
    now: f64,
    progress: bool,
) -> Resolutions {
    let mut pins: BTreeMap<&str, Vec<Option<&str>>> = BTreeMap::new();
    for (image, pin) in images {
        pins.entry(image).or_default().push(pin);
    }
    let mut results = Resolutions::new();
    let mut todo: Vec<(String, ImageRef)> = Vec::new();
    let mut cached = 0;
    let mut unconfirmed = 0;
    for (image, now_pinned) in &pins {
        let image = *image;
        match ImageRef::parse(image) {
            Err(e) => {
                results.insert(image.to_owned(), Err(e.into()));
            }
            Ok(parsed) => match cache.get(image, now) {
                Some(pin) if !confirms(&pin, now_pinned) => {
                    log::debug!("{image}: the cache says {pin}, not the pin; asking the registry");
                    unconfirmed += 1;
                    todo.push((image.to_owned(), parsed));
                }
                Some(pin) => {
                    log::debug!("{image}: {pin} (cached)");
                    results.insert(image.to_owned(), Ok(pin));
                    cached += 1;
                }
                None => todo.push((image.to_owned(), parsed)),
            },
        }
    }
    if !todo.is_empty() {
        let refs: Vec<&ImageRef> = todo.iter().map(|(_, r)| r).collect();
        resolver.prepare(&refs);
    }
    let bar = progress_bar(progress, todo.len());
    let fresh = run_pool(resolver, &todo, &bar);
    bar.finish_and_clear();
    for ((image, _), result) in todo.iter().zip(fresh) {
        if let Ok(pin) = &result {
            log::debug!("{image}: {pin}");
            cache.put(image, pin, now);
        }
        results.insert(image.clone(), result);
    }
    cache.save();
    if unconfirmed > 0 {
        log::debug!("{unconfirmed} cached answer(s) differed from the pins and were asked again");
    }
    if cached > 0 {
        log::info!(
            "{cached} of {} tag(s) answered from the cache, not the registry (CACHE_DURATION; --no-cache asks the registries)",
            results.len()
        );
    }
    results
}

/// Whether the cached `pin` is the digest every entry of its reference is pinned to now.
fn confirms(pin: &Pin, now_pinned: &[Option<&str>]) -> bool {
    !now_pinned.is_empty()
        && now_pinned.iter().all(|p| {
            p.and_then(|p| p.rsplit_once('@'))
                .is_some_and(|(_, digest)| digest == pin.digest())
        })
}

/// Resolves `todo` on up to `resolver.jobs()` threads; results come back in input order.
fn run_pool(
    resolver: &dyn Resolve,
    todo: &[(String, ImageRef)],
    bar: &indicatif::ProgressBar,
) -> Vec<Result<Pin, ResolveError>> {
    parallel_map(todo, resolver.jobs(), |(written, image)| {
        let result = resolver.resolve(image, written);
        bar.inc(1);
        result
    })
}

/// A progress bar on standard error when it is a terminal; hidden otherwise.
fn progress_bar(show: bool, len: usize) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !show || len < 2 || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("resolving {bar:30} {pos}/{len} {elapsed}")
    {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting(AtomicUsize);

    impl Resolve for Counting {
        fn resolve(&self, image: &ImageRef, _: &str) -> Result<Pin, ResolveError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            if image.repository.ends_with("missing") {
                return Err(RegistryError::from("manifest unknown").into());
            }
            Ok(Pin::new(
                &image.name(),
                &format!("sha256:{}", "a".repeat(64)),
            )?)
        }
        fn jobs(&self) -> usize {
            4
        }
    }

    #[test]
    fn a_cached_answer_only_confirms_the_pin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        let a = format!("docker.io/library/app@sha256:{}", "a".repeat(64));
        let b = format!("docker.io/library/app@sha256:{}", "b".repeat(64));
        // The cache holds the older digest B (say from a `check` before an update that
        // pinned A with --no-cache).
        std::fs::write(
            &path,
            serde_json::json!({"app:1": {"time": 100.0, "result": b}}).to_string(),
        )
        .unwrap();
        let cases: [(&[Option<&str>], usize, &str); 5] = [
            (&[Some(&b)], 0, "the pin confirmed from the cache"),
            (
                &[Some(&a)],
                1,
                "asked live: the cache would move the pin back",
            ),
            (&[None], 1, "asked live: the cache would make the first pin"),
            (&[Some(&b), Some(&a)], 1, "asked live: one entry would move"),
            (&[], 1, "not an entry's tag"),
        ];
        for (pins, asked, why) in cases {
            let resolver = Counting(AtomicUsize::new(0));
            let mut cache = Cache::load(&path, 3600);
            cache.set_read_only();
            let images: Vec<(&str, Option<&str>)> = if pins.is_empty() {
                vec![("app:1", None)]
            } else {
                pins.iter().map(|p| ("app:1", *p)).collect()
            };
            let results = resolve_all(&resolver, images, &mut cache, 200.0, false);
            assert_eq!(resolver.0.load(Ordering::SeqCst), asked, "{why}");
            let want = if asked == 0 { &b } else { &a };
            assert_eq!(results["app:1"].as_ref().unwrap().as_str(), want, "{why}");
        }
    }

    #[test]
    fn each_reference_once_and_errors_kept_apart() {
        let resolver = Counting(AtomicUsize::new(0));
        let mut cache = Cache::disabled();
        let images = ["a", "b:1", "a", "missing", "Bad Ref", "b:1"].map(|i| (i, None));
        let results = resolve_all(&resolver, images, &mut cache, 0.0, false);
        assert_eq!(resolver.0.load(Ordering::SeqCst), 3, "a, b:1, missing");
        assert_eq!(results.len(), 4);
        assert!(results["a"]
            .as_ref()
            .unwrap()
            .as_str()
            .starts_with("docker.io/library/a@sha256:"));
        assert_eq!(
            results["missing"].as_ref().unwrap_err().to_string(),
            "manifest unknown"
        );
        assert!(results["Bad Ref"]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("invalid image reference"));
    }
}
