//! Services in other folders that depend on a service, its dependents: a VPN client that
//! joins a VPN container's network namespace, an app behind a proxy whose network it uses.
//! When the provider is recreated, what joined its namespace has no network any more
//! (podman even refuses to remove the provider while they exist), so they are taken down
//! before the provider stops and started again once it passed its gate
//! ([`restart`]).
//!
//! cipug finds them with the container tool: a container of another service folder's
//! compose project that joins one of the provider's containers' namespaces
//! (`network_mode: container:<name>`, `HostConfig.NetworkMode`) or requires it (podman's
//! `Dependencies`). A dependent names its providers itself in its `.env` with
//! `RESTART_AFTER=<folder>[,<folder>]` when the container tool cannot tell (a proxy's
//! network): it is then restarted as a whole (`down`, `up -d`) after each of them.

pub mod restart;

use crate::adapters::container::{self, Container};
use crate::adapters::runner::Runner;
use crate::config::Config;
use crate::pipeline::service::Service;

/// The `.env` key of a dependent that names its providers.
pub const KEY: &str = "RESTART_AFTER";

/// How a dependent depends on its provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Its containers join (or require) the provider's: found by the container tool.
    Joined,
    /// Its `.env` names the provider in `RESTART_AFTER`.
    Named,
}

/// One dependency between two service folders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The folder depended on.
    pub provider: String,
    /// The folder that depends on it.
    pub dependent: String,
    /// How.
    pub link: Link,
}

/// The dependencies between the service folders of a run, and the containers they were
/// found among (as they were when the run began).
#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// Every dependency, in the order found.
    pub edges: Vec<Edge>,
    /// Every container of every compose project.
    containers: Vec<Container>,
    /// (folder, compose project) of each service.
    projects: Vec<(String, String)>,
}

impl Graph {
    /// Finds the dependencies between `services`: the container tool's view (one `ps` and
    /// one `inspect` of every compose project's containers), then each `.env`'s
    /// `RESTART_AFTER`. A container tool that cannot tell is logged; what the `.env` files
    /// say still counts.
    pub fn find(config: &Config, runner: &dyn Runner, services: &[Service]) -> Graph {
        let containers = container::list_compose(config, runner).unwrap_or_else(|e| {
            log::warn!("cannot list the containers of the compose projects, so dependents in other folders are not found: {e}");
            Vec::new()
        });
        let projects = services
            .iter()
            .map(|s| (s.dir.name.clone(), s.dir.project.clone()))
            .collect();
        let mut graph = Graph {
            edges: Vec::new(),
            containers,
            projects,
        };
        graph.edges = graph.joined();
        for service in services {
            for provider in named(service) {
                if !services.iter().any(|s| s.dir.name == provider) {
                    log::warn!(
                        "{}: {KEY} names {provider}, which is not a service folder here",
                        service.dir.name
                    );
                    continue;
                }
                graph.add(&provider, &service.dir.name, Link::Named);
            }
        }
        graph
    }

    fn add(&mut self, provider: &str, dependent: &str, link: Link) {
        let known = self
            .edges
            .iter()
            .any(|e| e.provider == provider && e.dependent == dependent);
        if !known && provider != dependent {
            self.edges.push(Edge {
                provider: provider.to_owned(),
                dependent: dependent.to_owned(),
                link,
            });
        }
    }

    /// The edges the containers show: a container of one folder's project that depends on
    /// one of another's.
    fn joined(&self) -> Vec<Edge> {
        let mut graph = Graph::default();
        for c in &self.containers {
            for t in self.containers.iter().filter(|t| c.depends_on(t)) {
                let (Some(dependent), Some(provider)) = (self.folder(c), self.folder(t)) else {
                    continue;
                };
                graph.add(provider, dependent, Link::Joined);
            }
        }
        graph.edges
    }

    /// The service folder whose compose project `c` belongs to.
    fn folder(&self, c: &Container) -> Option<&str> {
        let project = c.compose_project();
        self.projects
            .iter()
            .find(|(_, p)| !project.is_empty() && p == project)
            .map(|(name, _)| name.as_str())
    }

    /// The edges from `provider`.
    pub fn dependents(&self, provider: &str) -> Vec<&Edge> {
        self.edges
            .iter()
            .filter(|e| e.provider == provider)
            .collect()
    }

    /// The containers of other folders that depend on the containers `stopped` of
    /// `provider` (all of its project's when `None`), directly or through each other,
    /// those furthest down first: the order they are removed in.
    pub fn outside(&self, provider: &str, stopped: Option<&[String]>) -> Vec<Container> {
        let Some((_, project)) = self.projects.iter().find(|(n, _)| n == provider) else {
            return Vec::new();
        };
        let stopping: Vec<&Container> = self
            .containers
            .iter()
            .filter(|c| c.compose_project() == project)
            .filter(|c| stopped.is_none_or(|ids| ids.contains(&c.id)))
            .collect();
        crate::pipeline::project::restart::depending(&self.containers, &stopping, |c| {
            c.compose_project() != project
        })
        .into_iter()
        .cloned()
        .collect()
    }

    /// `services` in the order a run takes them: each provider before its dependents,
    /// otherwise as given (name order). A cycle is logged and left in name order.
    pub fn order(&self, services: Vec<Service>) -> Vec<Service> {
        let mut left = services;
        let mut ordered = Vec::with_capacity(left.len());
        while !left.is_empty() {
            let waits = |s: &Service, left: &[Service]| {
                self.edges.iter().any(|e| {
                    e.dependent == s.dir.name && left.iter().any(|p| p.dir.name == e.provider)
                })
            };
            let next = (0..left.len()).find(|&i| !waits(&left[i], &left));
            let i = next.unwrap_or_else(|| {
                log::warn!(
                    "{}: its dependencies in other folders form a cycle; taken in name order",
                    left[0].dir.name
                );
                0
            });
            ordered.push(left.remove(i));
        }
        ordered
    }

    /// The dependents of `provider`, each with how it depends: `vpn-client (joins its
    /// containers)`, `web (RESTART_AFTER)`.
    pub fn lines_of(&self, provider: &str) -> Vec<String> {
        self.dependents(provider)
            .iter()
            .map(|e| match e.link {
                Link::Joined => format!("{} (joins its containers)", e.dependent),
                Link::Named => format!("{} ({KEY})", e.dependent),
            })
            .collect()
    }

    /// One line per provider for `doctor`: `gluetun -> vpn-client (joins its containers),
    /// web (RESTART_AFTER)`.
    pub fn lines(&self) -> Vec<String> {
        let mut providers: Vec<&str> = self.edges.iter().map(|e| e.provider.as_str()).collect();
        providers.sort_unstable();
        providers.dedup();
        providers
            .into_iter()
            .map(|p| format!("{p} -> {}", self.lines_of(p).join(", ")))
            .collect()
    }
}

/// The providers `service`'s `.env` names in `RESTART_AFTER`.
fn named(service: &Service) -> Vec<String> {
    service
        .env
        .get(KEY)
        .map(|e| {
            e.value
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::recording::Recording;
    use crate::services::ServiceDir;

    fn service(name: &str, env: &str) -> Service {
        let path = std::path::PathBuf::from("/srv").join(name);
        Service {
            dir: ServiceDir {
                name: name.to_owned(),
                env_file: path.join(".env"),
                path,
                trusted: Default::default(),
                project: name.to_owned(),
            },
            env: crate::formats::envfile::EnvFile::parse(env.as_bytes()).unwrap(),
            images: Vec::new(),
        }
    }

    fn container(id: &str, project: &str, deps: &[&str], network: &str) -> serde_json::Value {
        serde_json::json!({
            "Id": id, "Name": format!("{project}-{id}"), "State": {"Status": "running"},
            "Config": {"Labels": {
                "com.docker.compose.project": project,
                "com.docker.compose.service": id,
            }},
            "Dependencies": deps, "HostConfig": {"NetworkMode": network}
        })
    }

    /// `vpn`'s container `tunnel`; `apps`' `client` joins it by name, its `worker`
    /// requires the client; `web` names `proxy` in RESTART_AFTER; `alone` joins nothing.
    fn graph() -> (Graph, Vec<Service>) {
        let inspect = serde_json::json!([
            container("tunnel", "vpn", &[], "bridge"),
            container("client", "apps", &[], "container:vpn-tunnel"),
            container("worker", "apps", &["client"], "bridge"),
            container("side", "vpn", &[], "container:vpn-tunnel"),
            container("other", "alone", &[], "container:nowhere"),
        ]);
        let runner = Recording::new()
            .answer("ps -a", "tunnel\nclient\nworker\nside\nother\n")
            .answer("container inspect", &inspect.to_string());
        let services = vec![
            service("alone", ""),
            service("apps", ""),
            service("proxy", ""),
            service("vpn", ""),
            service("web", "RESTART_AFTER=proxy, missing\n"),
        ];
        let config = crate::pipeline::fixture::service("r.io/a@sha256:1").1;
        (Graph::find(&config, &runner, &services), services)
    }

    #[test]
    fn dependents_in_other_folders_are_found_by_their_containers_and_their_env() {
        let (graph, _) = graph();
        assert_eq!(
            graph.lines(),
            [
                "proxy -> web (RESTART_AFTER)",
                "vpn -> apps (joins its containers)"
            ],
            "the project's own side container is not another folder's; an unknown name is skipped"
        );
        let ids = |found: Vec<Container>| found.into_iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(
            ids(graph.outside("vpn", None)),
            ["worker", "client"],
            "removed before what they depend on"
        );
        assert!(graph.outside("vpn", Some(&["side".to_owned()])).is_empty());
        assert!(graph.outside("apps", None).is_empty());
    }

    #[test]
    fn a_run_takes_providers_before_their_dependents() {
        let (graph, services) = graph();
        let names = |s: Vec<Service>| s.into_iter().map(|s| s.dir.name).collect::<Vec<_>>();
        assert_eq!(
            names(graph.order(services.clone())),
            ["alone", "proxy", "vpn", "apps", "web"]
        );
        let mut cycle = graph;
        cycle.add("web", "proxy", Link::Named);
        assert_eq!(
            names(cycle.order(services)),
            ["alone", "vpn", "apps", "proxy", "web"],
            "a cycle is left in name order"
        );
    }
}
