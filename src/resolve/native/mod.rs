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
pub mod challenge;
pub mod credentials;
pub mod image_labels;
pub mod tags;
pub mod transport;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use ureq::http::Response;
use ureq::{Agent, Body};

use crate::adapters::runner::Runner;
use crate::formats::image_ref::{valid_digest, ImageRef, Pin, Target};
use crate::resolve::Resolve;

use challenge::Challenge;
use credentials::Credentials;
use transport::{Security, TransportSettings};

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
const SMALL_BODY_LIMIT: u64 = 1 << 20;
const ATTEMPTS: u32 = 4;
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
const SCOPES_PER_TOKEN: usize = 50;
const TOKEN_LIFETIME_CAP: u64 = 24 * 3600;

/// The native resolver.
pub struct Native<'a> {
    transport: TransportSettings,
    auth_files: Vec<PathBuf>,
    runner: &'a dyn Runner,
    jobs: usize,
    per_registry: usize,
    backoff: Duration,
    registries: Mutex<HashMap<String, Arc<Registry>>>,
}

/// What is known about one registry during a run.
struct Registry {
    /// The name in references (`docker.io`, `host:port`), for credentials.
    name: String,
    /// The host API requests go to.
    host: String,
    endpoint: OnceLock<Result<Endpoint, String>>,
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    credentials: Mutex<HashMap<String, Option<Credentials>>>,
    slots: Slots,
    /// When the registry's share of the run ends (REGISTRY_TIMEOUT after first contact):
    /// every request, retry and wait of it and its token server ends by then.
    deadline: Instant,
    /// The last request of the registry or its token server that timed out, if any: named
    /// again by every request that finds the deadline passed.
    timed_out: Mutex<Option<String>>,
}

/// Who answers a request, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    Registry,
    TokenServer,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Peer::Registry => "registry",
            Peer::TokenServer => "token server",
        })
    }
}

/// How the registry answered the ping.
struct Endpoint {
    base: String,
    agent: Agent,
    challenge: Option<Challenge>,
    insecure: bool,
}

/// A counting semaphore capping requests in flight to one registry.
struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

struct SlotGuard<'s>(&'s Slots);

impl Slots {
    fn new(n: usize) -> Slots {
        Slots {
            free: Mutex::new(n.max(1)),
            freed: Condvar::new(),
        }
    }

    fn acquire(&self) -> SlotGuard<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        SlotGuard(self)
    }
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

/// The two ways of asking for a manifest.
#[derive(Debug, Clone, Copy)]
enum Method {
    Head,
    Get,
}

/// A request failure as shown to the user: what the registry said, or why it said nothing.
type Failure = String;

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
        }
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
                    timed_out: Mutex::new(None),
                })
            })
            .clone()
    }

    /// Pings `/v2/` once per registry: HTTPS first; plain HTTP only for insecure ones.
    fn endpoint<'r>(&self, registry: &'r Registry) -> Result<&'r Endpoint, Failure> {
        registry
            .endpoint
            .get_or_init(|| self.ping(registry))
            .as_ref()
            .map_err(Clone::clone)
    }

    fn ping(&self, registry: &Registry) -> Result<Endpoint, Failure> {
        let insecure = self.transport.is_insecure(&registry.name)
            || self.transport.is_insecure(&registry.host);
        let mut attempts: Vec<(String, Security)> = Vec::new();
        if insecure {
            attempts.push((format!("https://{}", registry.host), Security::Unverified));
            attempts.push((format!("http://{}", registry.host), Security::Unverified));
        } else {
            attempts.push((format!("https://{}", registry.host), Security::Verified));
        }
        let mut last_error = String::new();
        let fallback = attempts.len() > 1;
        for (i, (base, security)) in attempts.into_iter().enumerate() {
            let agent = self.transport.agent(&registry.host, security)?;
            let url = format!("{base}/v2/");
            // An insecure registry may speak plain HTTP: one HTTPS try, then fall back at once.
            let tries = if fallback && i == 0 { 1 } else { ATTEMPTS };
            let request = |t| {
                agent
                    .get(&url)
                    .config()
                    .timeout_global(Some(t))
                    .build()
                    .call()
            };
            match self.send_attempts(registry, Peer::Registry, &registry.host, tries, request) {
                Ok(response) => {
                    let challenge = match response.status().as_u16() {
                        401 => match header(&response, "www-authenticate") {
                            Some(value) => Some(
                                challenge::parse(&value)
                                    .map_err(|e| format!("registry {}: {e}", registry.host))?,
                            ),
                            None => None,
                        },
                        _ => None,
                    };
                    log::debug!(
                        "registry {}: {base}, {}",
                        registry.host,
                        match &challenge {
                            None => "no authentication".to_owned(),
                            Some(Challenge::Basic) => "basic authentication".to_owned(),
                            Some(Challenge::Bearer { realm, .. }) => format!("tokens from {realm}"),
                        }
                    );
                    return Ok(Endpoint {
                        base,
                        agent,
                        challenge,
                        insecure,
                    });
                }
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// Sends a request, retrying dropped connections, 5xx and 429 (after Retry-After).
    fn send(
        &self,
        registry: &Registry,
        peer: Peer,
        host: &str,
        request: impl Fn(Duration) -> Result<Response<Body>, ureq::Error>,
    ) -> Result<Response<Body>, Failure> {
        self.send_attempts(registry, peer, host, ATTEMPTS, request)
    }

    /// [`Self::send`] with at most `attempts` tries, all within the registry's deadline:
    /// `request` gets the time it may take. A request that timed out is retried once at
    /// most; a wait (backoff or `Retry-After`) that would pass the deadline is not waited.
    fn send_attempts(
        &self,
        registry: &Registry,
        peer: Peer,
        host: &str,
        attempts: u32,
        request: impl Fn(Duration) -> Result<Response<Body>, ureq::Error>,
    ) -> Result<Response<Body>, Failure> {
        let limit = self.transport.timeout.as_secs();
        let mut attempt = 0;
        let mut timeouts = 0;
        loop {
            attempt += 1;
            let left = registry.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let timed_out = registry.timed_out.lock().unwrap_or_else(|e| e.into_inner());
                return Err(timed_out.clone().unwrap_or_else(|| {
                    format!(
                        "{peer} {host}: REGISTRY_TIMEOUT ({limit} s) for this registry passed; gave up"
                    )
                }));
            }
            let wait = match request(left.min(self.transport.timeout)) {
                Ok(response) => {
                    let status = response.status().as_u16();
                    log::trace!("{peer} {host}: {}", status_text(status));
                    if attempt >= attempts || !(status == 429 || (500..600).contains(&status)) {
                        return Ok(response);
                    }
                    let wait = if status == 429 {
                        retry_after(&response).unwrap_or(self.backoff * 2u32.pow(attempt))
                    } else {
                        self.backoff * 2u32.pow(attempt - 1)
                    };
                    // Past the deadline: the caller reports this answer now.
                    if Instant::now() + wait.min(MAX_RETRY_AFTER) >= registry.deadline {
                        return Ok(response);
                    }
                    wait
                }
                Err(e) => {
                    let message = describe_transport_error(peer, host, &e, limit);
                    if matches!(e, ureq::Error::Timeout(_)) {
                        timeouts += 1;
                        *registry.timed_out.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some(message.clone());
                    }
                    if attempt >= attempts || !retryable(&e) || timeouts > 1 {
                        return Err(message);
                    }
                    let wait = self.backoff * 2u32.pow(attempt - 1);
                    if Instant::now() + wait >= registry.deadline {
                        return Err(message);
                    }
                    log::debug!("{message}; retrying");
                    wait
                }
            };
            std::thread::sleep(wait.min(MAX_RETRY_AFTER));
        }
    }

    fn credentials(
        &self,
        registry: &Registry,
        repository: &str,
    ) -> Result<Option<Credentials>, Failure> {
        let mut cache = registry
            .credentials
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(found) = cache.get(repository) {
            return Ok(found.clone());
        }
        let found = credentials::lookup(&self.auth_files, &registry.name, repository, self.runner)?;
        cache.insert(repository.to_owned(), found.clone());
        Ok(found)
    }

    /// The `Authorization` header for a pull of `repository`, if the registry wants one.
    fn authorization(
        &self,
        registry: &Registry,
        endpoint: &Endpoint,
        repository: &str,
    ) -> Result<Option<String>, Failure> {
        match &endpoint.challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self
                .credentials(registry, repository)?
                .map(|c| c.basic_header())),
            Some(Challenge::Bearer { .. }) => {
                let scope = pull_scope(repository);
                if let Some(token) = cached_token(registry, &scope) {
                    return Ok(Some(format!("Bearer {token}")));
                }
                self.fetch_tokens(registry, endpoint, std::slice::from_ref(&scope))?;
                Ok(cached_token(registry, &scope).map(|t| format!("Bearer {t}")))
            }
        }
    }

    /// Gets one token for all `scopes` from the Bearer realm and caches it for each.
    fn fetch_tokens(
        &self,
        registry: &Registry,
        endpoint: &Endpoint,
        scopes: &[String],
    ) -> Result<(), Failure> {
        let Some(Challenge::Bearer { realm, service, .. }) = &endpoint.challenge else {
            return Ok(());
        };
        let realm_url = realm
            .parse::<ureq::http::Uri>()
            .map_err(|_| format!("registry {}: bad token realm `{realm}`", registry.host))?;
        let realm_host = match (realm_url.host(), realm_url.port_u16()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => {
                return Err(format!(
                    "registry {}: bad token realm `{realm}`",
                    registry.host
                ))
            }
        };
        match realm_url.scheme_str() {
            Some("https") => {}
            Some("http") if endpoint.insecure => {}
            _ => {
                return Err(format!(
                    "registry {}: refusing token realm `{realm}` (not HTTPS)",
                    registry.host
                ))
            }
        }
        // Credentials go only to the registry they belong to: the realm gets them if it is the
        // registry's own host, Docker Hub's token service, or has credentials of its own.
        let repository = scopes
            .first()
            .and_then(|s| s.split(':').nth(1))
            .unwrap_or("");
        let same_site = realm_host == registry.host
            || (registry.name == crate::formats::image_ref::DOCKER_HUB
                && realm_host == "auth.docker.io");
        let creds = if same_site {
            self.credentials(registry, repository)?
        } else {
            credentials::lookup(&self.auth_files, &realm_host, "", self.runner)?
        };
        let mut query: Vec<(String, String)> = Vec::new();
        if let Some(service) = service {
            query.push(("service".into(), service.clone()));
        }
        for scope in scopes {
            query.push(("scope".into(), scope.clone()));
        }
        let agent = self.transport.agent(
            &realm_host,
            if endpoint.insecure {
                Security::Unverified
            } else {
                Security::Verified
            },
        )?;
        let response = self.send(registry, Peer::TokenServer, &realm_host, |t| {
            let mut request = agent
                .get(realm.as_str())
                .config()
                .timeout_global(Some(t))
                .build();
            for (k, v) in &query {
                request = request.query(k, v);
            }
            if let Some(c) = &creds {
                request = request.header("Authorization", c.basic_header());
            }
            request.call()
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!(
                "token service {realm_host} answered {}{}",
                status_text(status.as_u16()),
                registry_message(response)
            ));
        }
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let unreadable = |e: &dyn std::fmt::Display| {
            format!("token service {realm_host} sent an unreadable answer: {e}")
        };
        let body = response
            .into_body()
            .with_config()
            .limit(SMALL_BODY_LIMIT)
            .read_to_vec()
            .map_err(|e| unreadable(&e))?;
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| unreadable(&e))?;
        let token = answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| format!("token service {realm_host} sent no usable token"))?;
        // Renew a little before the server's expiry; 60 s is the protocol's default. No run
        // lasts a day: longer lifetimes (up to u64::MAX) are cut to one.
        let lifetime = answer
            .expires_in
            .unwrap_or(60)
            .clamp(10, TOKEN_LIFETIME_CAP)
            - 5;
        let until = Instant::now() + Duration::from_secs(lifetime);
        let mut tokens = registry.tokens.lock().unwrap_or_else(|e| e.into_inner());
        for scope in scopes {
            tokens.insert(scope.clone(), (token.clone(), until));
        }
        Ok(())
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
        let mut auth = self.authorization(&registry, endpoint, &image.repository)?;
        let mut response = head(auth.as_deref())?;
        if response.status().as_u16() == 401
            && matches!(endpoint.challenge, Some(Challenge::Bearer { .. }))
        {
            // The shared token may not cover this repository: ask for its own once.
            let scope = pull_scope(&image.repository);
            registry
                .tokens
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&scope);
            self.fetch_tokens(&registry, endpoint, std::slice::from_ref(&scope))?;
            auth = cached_token(&registry, &scope).map(|t| format!("Bearer {t}"));
            response = head(auth.as_deref())?;
        }
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
            ));
        }
        if status == 401 && endpoint.challenge.is_none() {
            return Err(format!(
                "registry {} answered 401 Unauthorized without an authentication challenge",
                registry.host
            ));
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
        ))
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

    fn resolve(&self, image: &ImageRef, _written: &str) -> Result<Pin, String> {
        let digest = self.resolve_digest(image)?;
        Pin::new(&image.name(), &digest)
    }

    fn jobs(&self) -> usize {
        self.jobs
    }
}

fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

fn cached_token(registry: &Registry, scope: &str) -> Option<String> {
    let tokens = registry.tokens.lock().unwrap_or_else(|e| e.into_inner());
    tokens
        .get(scope)
        .filter(|(_, until)| Instant::now() < *until)
        .map(|(token, _)| token.clone())
}

/// A header value, if present and printable.
fn header(response: &Response<Body>, name: &str) -> Option<String> {
    let value = response.headers().get(name)?.to_str().ok()?;
    Some(value.trim().to_owned())
}

/// Validates the digest a registry named; a digest reference must get itself back.
fn checked_digest(image: &ImageRef, digest: &str) -> Result<String, Failure> {
    if !valid_digest(digest) {
        let shown: String = digest
            .chars()
            .take(80)
            .filter(|c| !c.is_control())
            .collect();
        return Err(format!(
            "registry sent an invalid digest `{shown}` (want sha256: and 64 lowercase hex digits)"
        ));
    }
    if let Target::Digest(wanted) = &image.target {
        if wanted != digest {
            return Err(format!("registry answered digest {digest} for {wanted}"));
        }
    }
    Ok(digest.to_owned())
}

fn digest_of_body(
    image: &ImageRef,
    host: &str,
    response: Response<Body>,
) -> Result<String, Failure> {
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(format!(
            "registry {host} answered {} to GET after HEAD succeeded",
            status_text(status)
        ));
    }
    let claimed = header(&response, "docker-content-digest");
    let content_type = header(&response, "content-type");
    let body = response
        .into_body()
        .with_config()
        .limit(MANIFEST_LIMIT)
        .read_to_vec()
        .map_err(|e| format!("registry {host}: manifest not read: {e}"))?;
    manifest_check(content_type.as_deref(), &body)
        .map_err(|e| format!("registry {host}: {e}; not pinned"))?;
    let digest = format!("sha256:{:x}", Sha256::digest(&body));
    if let Some(claimed) = claimed {
        if claimed != digest {
            return Err(format!("registry {host} sent a manifest whose digest {digest} does not match its header {claimed}"));
        }
    }
    checked_digest(image, &digest)
}

/// The media type of a `Content-Type` value if it is one of the manifest types asked for.
/// `application/json` (old registries serving schema 1) passes as unknown (`None`).
fn manifest_kind(content_type: &str) -> Result<Option<&'static str>, String> {
    let bare = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if let Some(kind) = MANIFEST_TYPES.iter().find(|t| **t == bare) {
        return Ok(Some(kind));
    }
    if bare == "application/json" {
        return Ok(None);
    }
    let shown: String = bare.chars().filter(|c| !c.is_control()).take(80).collect();
    Err(format!(
        "answered with `{shown}`, which is not a manifest type asked for"
    ))
}

/// Checks that a manifest body is what it claims: JSON of one of the manifest types
/// asked for (the type from the `Content-Type` header, else the body's `mediaType`),
/// with the fields that kind of manifest has. An HTML page or any other body is refused.
fn manifest_check(content_type: Option<&str>, body: &[u8]) -> Result<(), String> {
    let declared = content_type.map(manifest_kind).transpose()?.flatten();
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| "sent a body that is not a manifest (not JSON)".to_owned())?;
    let own = value.get("mediaType").and_then(|m| m.as_str());
    let kind = match (declared, own) {
        (Some(declared), Some(own)) if !own.eq_ignore_ascii_case(declared) => {
            return Err(format!(
                "sent a manifest of type `{own}` labelled `{declared}`"
            ))
        }
        (Some(declared), _) => declared,
        (None, Some(own)) => manifest_kind(own)?.unwrap_or(""),
        (None, None) if value.get("schemaVersion").and_then(|v| v.as_u64()) == Some(1) => {
            MANIFEST_TYPES[3]
        }
        (None, None) => return Err("sent a body that is not a manifest (no media type)".into()),
    };
    let has = |field: &str| {
        value
            .get(field)
            .is_some_and(|v| v.is_array() || v.is_object())
    };
    let fits = match kind {
        k if k.contains("manifest.list") || k.contains("image.index") => has("manifests"),
        k if k.starts_with("application/vnd.docker.distribution.manifest.v1") => has("fsLayers"),
        _ => has("config") && has("layers"),
    };
    if fits && value.get("schemaVersion").is_some() {
        Ok(())
    } else {
        Err(format!("sent a body that is not a `{kind}` manifest"))
    }
}

/// ` (CODE: message)` from a registry's JSON error body, or nothing.
fn registry_message(response: Response<Body>) -> String {
    let Ok(text) = response
        .into_body()
        .with_config()
        .limit(64 << 10)
        .read_to_string()
    else {
        return String::new();
    };
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        code: Option<String>,
        message: Option<String>,
    }
    let clean = |s: &str| -> String { s.chars().filter(|c| !c.is_control()).take(200).collect() };
    match serde_json::from_str::<Errors>(&text) {
        Ok(errors) if !errors.errors.is_empty() => {
            let parts: Vec<String> = errors
                .errors
                .iter()
                .map(|e| match (&e.code, &e.message) {
                    (Some(c), Some(m)) => format!("{}: {}", clean(c), clean(m)),
                    (Some(c), None) => clean(c),
                    (None, Some(m)) => clean(m),
                    (None, None) => String::new(),
                })
                .collect();
            format!(" ({})", parts.join("; "))
        }
        _ if !text.trim().is_empty() && text.len() < 200 => format!(" ({})", clean(text.trim())),
        _ => String::new(),
    }
}

fn status_text(status: u16) -> String {
    let reason = ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("{status} {reason}").trim_end().to_owned()
}

fn retry_after(response: &Response<Body>) -> Option<Duration> {
    let value = header(response, "retry-after")?;
    value.parse::<u64>().ok().map(Duration::from_secs)
}

fn retryable(error: &ureq::Error) -> bool {
    matches!(
        error,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::Protocol(_)
    )
}

fn describe_transport_error(peer: Peer, host: &str, error: &ureq::Error, limit: u64) -> String {
    match error {
        ureq::Error::Timeout(_) => format!(
            "{peer} {host} did not answer in time (REGISTRY_TIMEOUT {limit} s for this registry)"
        ),
        ureq::Error::HostNotFound => format!("{peer} {host}: host not found"),
        ureq::Error::RequireHttpsOnly(url) => format!(
            "{peer} {host} redirected to plain HTTP ({}); refused",
            url.split(['?', '#']).next().unwrap_or("")
        ),
        other => format!("{peer} {host} could not be reached: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_validated() {
        let image = ImageRef::parse("a").unwrap();
        let good = format!("sha256:{}", "a".repeat(64));
        assert_eq!(checked_digest(&image, &good).unwrap(), good);
        for bad in [
            "sha256:abc",
            "md5:00",
            "",
            &format!("sha256:{}", "A".repeat(64)),
            &format!("sha256:{}\r\nX: y", "a".repeat(64)),
        ] {
            assert!(checked_digest(&image, bad).is_err(), "{bad:?}");
        }
        let pinned = ImageRef::parse(&format!("a@{good}")).unwrap();
        assert!(checked_digest(&pinned, &format!("sha256:{}", "b".repeat(64))).is_err());
    }

    #[test]
    fn only_manifests_of_the_types_asked_for_pass() {
        let oci = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#;
        let index = r#"{"schemaVersion":2,"manifests":[]}"#;
        let v1 = r#"{"schemaVersion":1,"fsLayers":[],"history":[]}"#;
        let oci_type = Some(MANIFEST_TYPES[0]);
        let index_type = Some("application/vnd.oci.image.index.v1+json; charset=utf-8");
        for (content_type, body) in [
            (oci_type, oci),
            (None, oci),
            (Some("application/json"), oci),
            (index_type, index),
            (Some("application/json"), v1),
        ] {
            assert!(
                manifest_check(content_type, body.as_bytes()).is_ok(),
                "{content_type:?} {body}"
            );
        }
        for (content_type, body) in [
            (Some("text/html"), "<html>login</html>"),
            (None, "<html>login</html>"),
            (Some("application/octet-stream"), oci),
            (index_type, oci),
            (oci_type, index),
            (oci_type, r#"{"config":{},"layers":[]}"#),
            (None, r#"{"schemaVersion":2}"#),
            (
                Some("application/vnd.docker.distribution.manifest.v2+json"),
                oci,
            ),
        ] {
            assert!(
                manifest_check(content_type, body.as_bytes()).is_err(),
                "{content_type:?} {body}"
            );
        }
    }

    #[test]
    fn slots_cap_concurrency() {
        let slots = Slots::new(2);
        let busy = std::sync::atomic::AtomicUsize::new(0);
        let peak = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    let _g = slots.acquire();
                    let now = busy.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(10));
                    busy.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                });
            }
        });
        assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
