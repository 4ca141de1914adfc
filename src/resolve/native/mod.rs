//! The native registry client: one `HEAD /v2/<name>/manifests/<tag>` per reference, the
//! digest from `Docker-Content-Digest`, all references in parallel.
//!
//! Per registry it pings `/v2/` once (to learn the scheme and the authentication challenge),
//! caps the requests in flight, reuses connections, and caches Bearer tokens per scope until
//! they expire; before resolving it asks for one token covering every repository of the run
//! on that registry, and falls back to one token per repository where the token server
//! refuses that. Only when a registry omits the digest header does it GET the manifest and
//! hash it. 429 is honoured (Retry-After), 5xx and dropped connections are retried.

pub mod api_get;
mod auth;
pub mod challenge;
pub mod credentials;
mod endpoint;
pub mod image_labels;
mod label_budget;
mod response;
pub mod tags;
pub mod transport;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ureq::http::Response;
use ureq::Body;

use crate::adapters::runner::Runner;
use crate::base::parallel::Slots;
use crate::formats::image::reference::{ImageRef, Pin};
use crate::formats::registries_conf::{candidates, Rule};
use crate::resolve::{Resolve, ResolveError};

use auth::pull_scope;
use challenge::Challenge;
use endpoint::{Endpoint, Registry};
use label_budget::LabelBudget;
use response::{
    checked_digest, digest_of_body, header, manifest_kind, registry_message, retry_after,
    status_text, Peer,
};
use transport::TransportSettings;

/// The manifest types containers/image asks for, in its order.
pub const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
];

const MANIFEST_LIMIT: u64 = 4 << 20;
const SCOPES_PER_TOKEN: usize = 50;

/// The native resolver.
pub struct Native<'a> {
    transport: TransportSettings,
    auth_files: Vec<PathBuf>,
    runner: &'a dyn Runner,
    jobs: usize,
    per_registry: usize,
    backoff: Duration,
    registries: Mutex<HashMap<String, Arc<Registry>>>,
    mirrors: Vec<Rule>,
}

/// The two ways of asking for a manifest.
#[derive(Debug, Clone, Copy)]
enum Method {
    Head,
    Get,
}

/// A request failure as shown to the user: what the registry said, or why it said nothing
/// (the registry's host first, then its status and words, or the HTTP client's error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RegistryError(String);

impl From<String> for RegistryError {
    fn from(message: String) -> Self {
        RegistryError(message)
    }
}

impl From<&str> for RegistryError {
    fn from(message: &str) -> Self {
        RegistryError(message.to_owned())
    }
}

type Failure = RegistryError;

impl<'a> Native<'a> {
    /// A resolver with `jobs` references in flight, at most `per_registry` per registry.
    pub fn new(
        transport: TransportSettings,
        auth_files: Vec<PathBuf>,
        runner: &'a dyn Runner,
        jobs: usize,
        per_registry: usize,
    ) -> Self {
        Native {
            transport,
            auth_files,
            runner,
            jobs,
            per_registry,
            backoff: Duration::from_millis(250),
            registries: Mutex::new(HashMap::new()),
            mirrors: Vec::new(),
        }
    }

    /// The client with the registries.conf `rules` (mirrors, rewrites, blocks) for its tag
    /// lists and image labels, as manifests resolve through [`crate::resolve::mirrored`].
    pub fn with_mirrors(mut self, rules: Vec<Rule>) -> Self {
        self.mirrors = rules;
        self
    }

    /// `ask` for each place of `image` in registries.conf's order (its mirrors, then its
    /// location) until one answers; the error says what each said, the location's first.
    fn through_mirrors<T>(
        &self,
        image: &ImageRef,
        ask: impl Fn(&ImageRef) -> Result<T, Failure>,
    ) -> Result<T, ResolveError> {
        let mut failures = Vec::new();
        for candidate in candidates(&self.mirrors, image)? {
            match ask(&candidate) {
                Ok(answer) => {
                    if &candidate != image {
                        log::debug!("{image}: read through {candidate}");
                    }
                    return Ok(answer);
                }
                Err(e) => failures.push(e),
            }
        }
        Err(ResolveError::of_places(failures))
    }

    fn registry(&self, image: &ImageRef) -> Arc<Registry> {
        let mut map = self.registries.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(image.registry.clone())
            .or_insert_with(|| {
                Arc::new(Registry {
                    name: image.registry.clone(),
                    host: image.api_host().to_owned(),
                    endpoint: OnceLock::new(),
                    tokens: Mutex::new(HashMap::new()),
                    credentials: Mutex::new(HashMap::new()),
                    slots: Slots::new(self.per_registry),
                    deadline: Instant::now() + self.transport.timeout,
                    labels: Mutex::new(LabelBudget::new(self.transport.timeout)),
                    timed_out: Mutex::new(None),
                })
            })
            .clone()
    }

    /// A manifest request (`HEAD` or `GET`) with the Accept list and the authorization.
    fn manifest(
        &self,
        method: Method,
        endpoint: &Endpoint,
        registry: &Registry,
        url: &str,
        auth: Option<&str>,
    ) -> Result<Response<Body>, Failure> {
        let accept = MANIFEST_TYPES.join(", ");
        self.send(registry, Peer::Registry, &registry.host, |t| {
            let request = match method {
                Method::Head => endpoint.agent.head(url),
                Method::Get => endpoint.agent.get(url),
            };
            let request = request
                .config()
                .timeout_global(Some(t))
                .build()
                .header("Accept", &accept);
            match auth {
                Some(auth) => request.header("Authorization", auth).call(),
                None => request.call(),
            }
        })
    }

    fn resolve_digest(&self, image: &ImageRef) -> Result<String, Failure> {
        let registry = self.registry(image);
        let _slot = registry.slots.acquire();
        let endpoint = self.endpoint(&registry)?;
        let url = format!(
            "{}/v2/{}/manifests/{}",
            endpoint.base,
            image.repository,
            image.reference()
        );
        let head =
            |auth: Option<&str>| self.manifest(Method::Head, endpoint, &registry, &url, auth);
        let (response, auth) = self.authorized(&registry, endpoint, &image.repository, head)?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            if let Some(kind) = header(&response, "content-type") {
                manifest_kind(&kind).map_err(|e| format!("registry {}: {e}", registry.host))?;
            }
            if let Some(digest) = header(&response, "docker-content-digest") {
                return checked_digest(image, &digest);
            }
            // No digest header: fetch the manifest and hash it.
            let response =
                self.manifest(Method::Get, endpoint, &registry, &url, auth.as_deref())?;
            return digest_of_body(image, &registry.host, response);
        }
        if (300..400).contains(&status) {
            let to = header(&response, "location").unwrap_or_default();
            return Err(format!(
                "registry {} answered {} to {}; redirects of an insecure registry are not followed",
                registry.host,
                status_text(status),
                to.split(['?', '#']).next().unwrap_or("")
            )
            .into());
        }
        if status == 401 && endpoint.challenge.is_none() {
            return Err(format!(
                "registry {} answered 401 Unauthorized without an authentication challenge",
                registry.host
            )
            .into());
        }
        let asks = match retry_after(&response) {
            Some(wait) if status == 429 => format!(
                "; it asks to wait {} s, past REGISTRY_TIMEOUT ({} s) for this registry: gave up",
                wait.as_secs(),
                self.transport.timeout.as_secs()
            ),
            _ => String::new(),
        };
        // HEAD answers carry no body: GET once for the registry's own words.
        let said = match self.manifest(Method::Get, endpoint, &registry, &url, auth.as_deref()) {
            Ok(r) if !r.status().is_success() => registry_message(r),
            _ => String::new(),
        };
        Err(format!(
            "registry {} answered {}{said}{asks}",
            registry.host,
            status_text(status)
        )
        .into())
    }
}

impl Native<'_> {
    /// Whether the registry still serves `pin`: a `HEAD` of its manifest by digest, through
    /// the registries.conf mirrors as a pull asks; the error says what each place said.
    pub fn serves(&self, pin: &Pin) -> Result<(), ResolveError> {
        let image = ImageRef::parse(pin.as_str())?;
        self.through_mirrors(&image, |place| self.resolve_digest(place))
            .map(|_| ())
    }
}

impl Resolve for Native<'_> {
    fn prepare(&self, images: &[&ImageRef]) {
        let mut by_registry: HashMap<String, Vec<String>> = HashMap::new();
        for image in images {
            let scopes = by_registry.entry(image.registry.clone()).or_default();
            let scope = pull_scope(&image.repository);
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        std::thread::scope(|s| {
            for (name, scopes) in &by_registry {
                let Some(image) = images.iter().find(|i| &i.registry == name) else {
                    continue;
                };
                let registry = self.registry(image);
                s.spawn(move || {
                    let Ok(endpoint) = self.endpoint(&registry) else {
                        return;
                    };
                    if !matches!(endpoint.challenge, Some(Challenge::Bearer { .. }))
                        || scopes.len() < 2
                    {
                        return;
                    }
                    for batch in scopes.chunks(SCOPES_PER_TOKEN) {
                        if let Err(e) = self.fetch_tokens(&registry, endpoint, batch) {
                            log::debug!(
                                "registry {}: no shared token ({e}); one token per repository",
                                registry.host
                            );
                            return;
                        }
                    }
                });
            }
        });
    }

    fn resolve(&self, image: &ImageRef, _written: &str) -> Result<Pin, ResolveError> {
        let digest = self.resolve_digest(image)?;
        Ok(Pin::new(&image.name(), &digest)?)
    }

    fn jobs(&self) -> usize {
        self.jobs
    }
}
