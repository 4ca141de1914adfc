//! The connection to one registry during a run: what is known of it (endpoint, tokens,
//! credentials, request slots, deadline), the `/v2/` ping that learns the scheme and the
//! authentication challenge, and sending requests with retries within the registry's deadline.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use ureq::http::Response;
use ureq::{Agent, Body};

use crate::base::parallel::Slots;

use super::challenge::{self, Challenge};
use super::credentials::Credentials;
use super::response::{
    describe_transport_error, header, retry_after, retryable, status_text, Peer,
};
use super::transport::Security;
use super::{Failure, Native};

const ATTEMPTS: u32 = 4;
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// What is known about one registry during a run.
pub(super) struct Registry {
    /// The name in references (`docker.io`, `host:port`), for credentials.
    pub(super) name: String,
    /// The host API requests go to.
    pub(super) host: String,
    pub(super) endpoint: OnceLock<Result<Endpoint, Failure>>,
    pub(super) tokens: Mutex<HashMap<String, (String, Instant)>>,
    pub(super) credentials: Mutex<HashMap<String, Option<Credentials>>>,
    /// Caps the requests in flight to the registry.
    pub(super) slots: Slots,
    /// When the registry's share of the run ends (REGISTRY_TIMEOUT after first contact):
    /// every request, retry and wait of it and its token server ends by then.
    pub(super) deadline: Instant,
    /// The label reads' own budget ([`super::label_budget`]): while one runs, its deadline
    /// replaces `deadline`.
    pub(super) labels: Mutex<super::label_budget::LabelBudget>,
    /// The last request of the registry or its token server that timed out, if any: named
    /// again by every request that finds the deadline passed.
    pub(super) timed_out: Mutex<Option<String>>,
}

/// How the registry answered the ping.
pub(super) struct Endpoint {
    pub(super) base: String,
    pub(super) agent: Agent,
    pub(super) challenge: Option<Challenge>,
    pub(super) insecure: bool,
}

impl Native<'_> {
    /// Pings `/v2/` once per registry: HTTPS first; plain HTTP only for insecure ones.
    pub(super) fn endpoint<'r>(&self, registry: &'r Registry) -> Result<&'r Endpoint, Failure> {
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
        let mut last_error = Failure::from(String::new());
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
    pub(super) fn send(
        &self,
        registry: &Registry,
        peer: Peer,
        host: &str,
        request: impl Fn(Duration) -> Result<Response<Body>, ureq::Error>,
    ) -> Result<Response<Body>, Failure> {
        self.send_attempts(registry, peer, host, ATTEMPTS, request)
    }

    /// [`Self::send`] with at most `attempts` tries, all within the registry's deadline (or
    /// the deadline of the label read in progress, [`super::label_budget`]):
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
            let labels = registry
                .labels
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .deadline();
            let deadline = labels.unwrap_or(registry.deadline);
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() && labels.is_some() {
                return Err(format!(
                    "{peer} {host}: REGISTRY_TIMEOUT ({limit} s) of the label reads for this \
                     registry passed; gave up"
                )
                .into());
            }
            if left.is_zero() {
                let timed_out = registry.timed_out.lock().unwrap_or_else(|e| e.into_inner());
                let said = timed_out.clone().unwrap_or_else(|| {
                    format!(
                        "{peer} {host}: REGISTRY_TIMEOUT ({limit} s) for this registry passed; gave up"
                    )
                });
                return Err(said.into());
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
                    if Instant::now() + wait.min(MAX_RETRY_AFTER) >= deadline {
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
                        return Err(message.into());
                    }
                    let wait = self.backoff * 2u32.pow(attempt - 1);
                    if Instant::now() + wait >= deadline {
                        return Err(message.into());
                    }
                    log::debug!("{message}; retrying");
                    wait
                }
            };
            std::thread::sleep(wait.min(MAX_RETRY_AFTER));
        }
    }
}
