//! How a service moves from the old pins to the new ones: which containers stop and start.
//!
//! With the compose method and `RESTART_SCOPE=services` only the compose services whose
//! image uses a changed `SERVICE_<X>_IMAGE_HASHED` are recreated (`stop`, remove, `up -d
//! --no-deps <service>…`); the other containers of the project keep running. When those
//! containers already run the new image (same image ID), nothing restarts. A project with no
//! container yet is started with `up -d`; a compose file whose images use no changed
//! variable, and `RESTART_SCOPE=project` get the whole project's `down` and `up -d`; the
//! systemd methods stop and start (or restart) their unit.

use crate::adapters::compose::Compose;
use crate::adapters::container::{self, Container};
use crate::adapters::runner::{Cmd, Runner};
use crate::config::{Config, RestartScope, StopStartMethod};
use crate::error::{ComposeError, Error, RestartError, Result};
use crate::formats::compose::services::ComposeServices;
use crate::pipeline::service::Change;
use crate::services::ServiceDir;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

/// What a service's update restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// `SERVICE_STOP_START=false`: nothing.
    Nothing,
    /// The changed containers already run the new images: only the pins are written.
    AlreadyRunning,
    /// The changed compose services had no container before the update and are in
    /// profiles: only the pins are written, nothing is started (compose would start them
    /// when named).
    NotRunning,
    /// Recreate these compose services; `containers` are their current container IDs.
    Services {
        /// The compose service names: those whose image changes, and those whose
        /// containers depend on them.
        services: Vec<String>,
        /// The containers of the changed services now, removed before `up`.
        containers: Vec<String>,
        /// The containers that depend on those (podman's `--requires`, a joined network
        /// namespace), removed first and started again with them.
        dependents: Vec<String>,
        /// Seconds they get to stop (the longest `stop_grace_period` among them): the
        /// container tool stops them directly, saving a start of the compose tool. `None`:
        /// a grace period cipug cannot read, so the compose tool stops them.
        stop_secs: Option<u64>,
        /// The project's other containers as they were before the update: the health gate
        /// judges each against itself, not as a new one.
        unchanged: Vec<Container>,
        /// The changed compose services whose containers had all finished with exit code
        /// 0 before the update (one-shots): theirs may finish so again.
        one_shots: Vec<String>,
    },
    /// `down` and `up -d` the whole compose project.
    Project,
    /// No container of the project exists: `up -d` it, nothing to stop (and nothing to start
    /// again when the update fails before the start).
    Fresh,
    /// Stop and start the systemd unit.
    Unit,
}

/// The compose services of `dir` whose image uses one of the variables of `entries`; empty
/// when the compose file cannot be read (the health gate then checks every container).
pub fn services_using(config: &Config, dir: &ServiceDir, entries: &[&str]) -> Vec<String> {
    project_model(config, dir)
        .map(|file| file.services_using(entries))
        .unwrap_or_default()
}

/// The compose project of `dir` as its compose tool reads it: see
/// [`crate::pipeline::project::compose_model`].
pub fn project_model(
    config: &Config,
    dir: &ServiceDir,
) -> std::result::Result<ComposeServices, crate::pipeline::project::compose_model::ProjectError> {
    crate::pipeline::project::compose_model::load(config, dir)
}

/// Works out what an update of `dir` with `changes` restarts. Reads the compose file (an
/// error if it does not parse, exit 30) and, for `RESTART_SCOPE=services`, asks the
/// container tool once which containers the project has and which images they run.
pub fn plan(
    config: &Config,
    runner: &dyn Runner,
    dir: &ServiceDir,
    changes: &[Change],
) -> Result<Plan> {
    let file = project_model(config, dir)
        .map_err(|e| Error::Compose(ComposeError::Project(Box::new(e))))?;
    if !config.service_stop_start {
        return Ok(Plan::Nothing);
    }
    if config.stop_start_method != StopStartMethod::Compose {
        return Ok(Plan::Unit);
    }
    let all = container::list(config, runner, &dir.project)
        .map_err(|e| Error::Compose(ComposeError::ContainerList(Box::new(e))))?;
    if all.is_empty() {
        return Ok(Plan::Fresh);
    }
    if config.restart_scope == RestartScope::Project {
        return Ok(Plan::Project);
    }
    let mut file = file;
    crate::pipeline::project::compose_model::confirm(config, runner, dir, &mut file);
    if let Some(why) = file.unsure().first() {
        log::warn!(
            "{}: cipug cannot be sure which compose services use the changed pins ({why}); the whole project restarts",
            dir.name
        );
        return Ok(Plan::Project);
    }
    let entries: Vec<&str> = changes.iter().map(|c| c.entry.as_str()).collect();
    let mut services = file.services_using(&entries);
    if services.is_empty() {
        log::debug!(
            "{}: no compose service uses the changed variables; the whole project restarts",
            dir.name
        );
        return Ok(Plan::Project);
    }
    services = running_or_always(&dir.name, &file, &all, services);
    if services.is_empty() {
        return Ok(Plan::NotRunning);
    }
    let targets: Vec<&Container> = all
        .iter()
        .filter(|c| services.iter().any(|s| s == c.compose_service()))
        .collect();
    if config.service_pull && already_running(config, runner, &file, &targets, changes, &services) {
        return Ok(Plan::AlreadyRunning);
    }
    let dependents = dependents_of(&all, &targets);
    for c in &dependents {
        let service = c.compose_service().to_owned();
        if !service.is_empty() && !services.contains(&service) {
            log::debug!(
                "{}: {} depends on what changes; it is recreated with it",
                dir.name,
                c.name()
            );
            services.push(service);
        }
    }
    let stop_secs = services
        .iter()
        .map(|s| file.stop_grace_secs(s))
        .try_fold(0, |most, secs| secs.map(|s| s.max(most)));
    let unchanged = all
        .iter()
        .filter(|c| !services.iter().any(|s| s == c.compose_service()))
        .cloned()
        .collect();
    Ok(Plan::Services {
        one_shots: one_shots(&services, &targets),
        services,
        containers: targets.iter().map(|c| c.id.clone()).collect(),
        dependents: dependents.iter().map(|c| c.id.clone()).collect(),
        stop_secs,
        unchanged,
    })
}

/// The compose services of `services` whose containers had all finished with exit code 0
/// before the update.
fn one_shots(services: &[String], targets: &[&Container]) -> Vec<String> {
    services
        .iter()
        .filter(|s| {
            let before: Vec<&&Container> = targets
                .iter()
                .filter(|c| c.compose_service() == s.as_str())
                .collect();
            !before.is_empty() && before.iter().all(|c| c.finished())
        })
        .cloned()
        .collect()
}

/// The compose services of `services` that had containers before the update or are in no
/// profile: a service of a profile that is not active did not run, and naming it to compose
/// would start it.
fn running_or_always(
    name: &str,
    file: &ComposeServices,
    all: &[Container],
    services: Vec<String>,
) -> Vec<String> {
    let ran = |s: &String| all.iter().any(|c| c.compose_service() == s);
    let (off, on): (Vec<String>, Vec<String>) = services
        .into_iter()
        .partition(|s| !ran(s) && !file.profiles(s).is_empty());
    if !off.is_empty() {
        log::info!(
            "{name}: {} did not run before the update (a profile that is not active); pinned, not started",
            off.join(", ")
        );
    }
    on
}

/// The containers of `all` that depend on `targets`, directly or through each other (see
/// [`Container::depends_on`]), those furthest down first: the order they are removed in.
fn dependents_of<'c>(all: &'c [Container], targets: &[&Container]) -> Vec<&'c Container> {
    depending(all, targets, |_| true)
}

/// The containers of `all` that `keep` accepts and that depend on `targets`, directly or
/// through each other, those furthest down first.
pub fn depending<'c>(
    all: &'c [Container],
    targets: &[&Container],
    keep: impl Fn(&Container) -> bool,
) -> Vec<&'c Container> {
    let mut chosen: Vec<&Container> = targets.to_vec();
    let mut found: Vec<&Container> = Vec::new();
    loop {
        let next: Vec<&Container> = all
            .iter()
            .filter(|c| keep(c))
            .filter(|c| !chosen.iter().any(|t| t.id == c.id))
            .filter(|c| chosen.iter().any(|t| c.depends_on(t)))
            .collect();
        if next.is_empty() {
            break;
        }
        chosen.extend(&next);
        found.extend(next);
    }
    found.reverse();
    found
}

/// Whether every target service has running containers, all on the image ID its new pin
/// has in local storage (pulled before).
fn already_running(
    config: &Config,
    runner: &dyn Runner,
    file: &ComposeServices,
    targets: &[&Container],
    changes: &[Change],
    services: &[String],
) -> bool {
    let mut wanted = Vec::new();
    for change in changes {
        match runner.run(&container::image_id_cmd(config, change.new.as_str())) {
            Ok(out) => wanted.push((
                change.entry.as_str(),
                container::image_id(&out.stdout).to_owned(),
            )),
            Err(_) => return false,
        }
    }
    services.iter().all(|service| {
        let ids: Vec<&str> = wanted
            .iter()
            .filter(|(entry, _)| file.services_using(&[entry]).contains(service))
            .map(|(_, id)| id.as_str())
            .collect();
        let running: Vec<&&Container> = targets
            .iter()
            .filter(|c| c.compose_service() == service)
            .collect();
        !running.is_empty()
            && running.iter().all(|c| {
                c.running() && !c.image_id().is_empty() && ids.iter().all(|id| *id == c.image_id())
            })
    })
}

/// Watches the start of a service's containers, run in another thread, for the moment the
/// next service may go on: when the start command ended, or (for recreated compose
/// services) as soon as each of them has a running container. podman-compose 1.0 waits a
/// second after starting each container before it exits; nothing of that second is needed.
/// Whether the start worked is the start command's exit and the health gate's verdict,
/// which the caller still waits for.
pub struct StartWatch {
    project: String,
    services: Vec<String>,
}

/// When the watch first looks: podman-compose 1.0 takes about that long to start a container,
/// and a look before takes CPU from the start it waits for.
const FIRST_LOOK: Duration = Duration::from_millis(800);
const LOOK_EVERY: Duration = Duration::from_millis(200);

impl StartWatch {
    /// A watch over the compose `services` of the compose project `project` (none: only the
    /// command's end counts).
    pub fn new(project: &str, services: &[String]) -> Self {
        StartWatch {
            project: project.to_owned(),
            services: services.to_vec(),
        }
    }

    /// Returns when `ended` says the start command ended (or its thread is gone), or when
    /// every watched compose service has a running container.
    pub fn wait(&self, config: &Config, runner: &dyn Runner, ended: &Receiver<()>) {
        if self.services.is_empty() {
            let _ = ended.recv();
            return;
        }
        let mut pause = FIRST_LOOK;
        loop {
            match ended.recv_timeout(pause) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
            let list = container::list(config, runner, &self.project).unwrap_or_default();
            let runs = |s: &String| {
                list.iter()
                    .any(|c| c.compose_service() == s.as_str() && c.running())
            };
            if self.services.iter().all(runs) {
                log::debug!("{}: running; going on while it starts", self.project);
                return;
            }
            pause = LOOK_EVERY;
        }
    }
}

impl Plan {
    /// Whether the plan stops anything.
    pub fn stops(&self) -> bool {
        matches!(self, Plan::Services { .. } | Plan::Project | Plan::Unit)
    }

    /// The commands that stop what changes.
    pub fn stop_cmds(&self, config: &Config, dir: &ServiceDir) -> Vec<Cmd> {
        let compose = Compose::new(config);
        match self {
            Plan::Nothing | Plan::AlreadyRunning | Plan::NotRunning | Plan::Fresh => Vec::new(),
            Plan::Services {
                containers,
                dependents,
                ..
            } if containers.is_empty() && dependents.is_empty() => Vec::new(),
            Plan::Services {
                services,
                containers,
                dependents,
                stop_secs,
                ..
            } => {
                // Dependents first: podman refuses to remove what others still require.
                let groups = [dependents, containers];
                let groups = groups.iter().filter(|ids| !ids.is_empty());
                match stop_secs {
                    // Removed here, not by compose: podman-compose 1.0 `up
                    // --force-recreate` tears down the dependencies too.
                    Some(secs) => groups
                        .flat_map(|ids| container::stop_and_remove_cmds(config, *secs, ids))
                        .collect(),
                    None => std::iter::once(compose.stop_services(dir, services))
                        .chain(groups.map(|ids| container::remove_containers_cmd(config, ids)))
                        .collect(),
                }
            }
            Plan::Project | Plan::Unit => vec![compose.stop(dir)],
        }
    }

    /// The commands that start what changed, on the pins in the `.env`.
    pub fn start_cmds(&self, config: &Config, dir: &ServiceDir) -> Vec<Cmd> {
        let compose = Compose::new(config);
        match self {
            Plan::Nothing | Plan::AlreadyRunning | Plan::NotRunning => Vec::new(),
            Plan::Services { services, .. } => vec![compose.up_services(dir, services)],
            Plan::Project | Plan::Unit | Plan::Fresh => vec![compose.start(dir)],
        }
    }

    /// The changed compose services that were finished one-shots before the update; `None`
    /// when nothing ran before (a fresh project, a whole-project restart): not known.
    pub fn one_shots(&self) -> Option<&[String]> {
        match self {
            Plan::Services { one_shots, .. } => Some(one_shots),
            _ => None,
        }
    }

    /// Every container of the project before the update, as far as the plan knows them
    /// (a restart of some compose services): the recreated ones, their dependents and the
    /// unchanged ones.
    pub fn container_ids(&self) -> Vec<String> {
        match self {
            Plan::Services {
                containers,
                dependents,
                unchanged,
                ..
            } => containers
                .iter()
                .chain(dependents)
                .cloned()
                .chain(unchanged.iter().map(|c| c.id.clone()))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The containers the plan leaves as they are, as they were before the update.
    pub fn unchanged(&self) -> &[Container] {
        match self {
            Plan::Services { unchanged, .. } => unchanged,
            _ => &[],
        }
    }

    /// Stops what changes ([`Plan::stop_cmds`]); a failure is a restart error. When a stop
    /// or remove of recreated compose services fails, their containers say whether it
    /// matters: one that stopped by itself meanwhile (podman's `rm -f -t` exits 2 with
    /// "container state improper" when the container exits at the end of its grace period)
    /// or is gone is removed once more without a grace period and counts as stopped; one that
    /// still runs, or a removal that fails again, keeps the error.
    pub fn stop(&self, config: &Config, runner: &dyn Runner, dir: &ServiceDir) -> Result<()> {
        let Plan::Services {
            services,
            containers,
            dependents,
            stop_secs,
            ..
        } = self
        else {
            return Plan::run(runner, &self.stop_cmds(config, dir));
        };
        if stop_secs.is_none() {
            Plan::run(runner, &[Compose::new(config).stop_services(dir, services)])?;
        }
        // Dependents first, each group's race handled before the next group stops.
        for ids in [dependents, containers]
            .into_iter()
            .filter(|ids| !ids.is_empty())
        {
            let cmds = match stop_secs {
                Some(secs) => container::stop_and_remove_cmds(config, *secs, ids),
                None => vec![container::remove_containers_cmd(config, ids)],
            };
            for cmd in &cmds {
                if let Err(e) = runner.run(cmd) {
                    let project = &dir.project;
                    container::remove_stopped(config, runner, project, ids, &e.to_string())
                        .map_err(|e| Error::Restart(RestartError::Containers(Box::new(e))))?;
                    break;
                }
            }
        }
        Ok(())
    }

    /// Runs `cmds` in order; a failure is a restart error.
    pub fn run(runner: &dyn Runner, cmds: &[Cmd]) -> Result<()> {
        for cmd in cmds {
            runner.run(cmd).map_err(|e| Error::Restart(e.into()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspected(id: &str, name: &str, service: &str, deps: &[&str], network: &str) -> Container {
        let json = serde_json::json!([{
            "Id": id, "Name": name, "Image": "sha256:1", "RestartCount": 0,
            "State": {"Status": "running"},
            "Config": {"Labels": {"com.docker.compose.service": service}},
            "Dependencies": deps, "HostConfig": {"NetworkMode": network}
        }]);
        container::parse_inspect(&json.to_string())
            .unwrap()
            .remove(0)
    }

    #[test]
    fn dependents_are_found_through_requires_and_joined_namespaces_furthest_first() {
        let db = inspected("aaaa1111", "p_db_1", "db", &[], "bridge");
        // podman-compose 1.1+: --requires=<db>; the app's worker requires the app.
        let app = inspected("bbbb2222", "p_app_1", "app", &["aaaa1111"], "bridge");
        let worker = inspected("cccc3333", "p_worker_1", "worker", &["bbbb2222"], "");
        // network_mode: service:db, by name (podman-compose) or id.
        let sidecar = inspected("dddd4444", "p_side_1", "side", &[], "container:p_db_1");
        let alone = inspected("eeee5555", "p_web_1", "web", &[], "container:ffff");
        let all = vec![db.clone(), app, worker, sidecar, alone];
        let found: Vec<&str> = dependents_of(&all, &[&db])
            .iter()
            .map(|c| c.compose_service())
            .collect();
        assert_eq!(
            found,
            ["worker", "side", "app"],
            "removed before what they depend on"
        );
        assert!(dependents_of(&all, &[&all[4]]).is_empty());
    }
    use crate::adapters::runner::{Output, RunError};
    use crate::formats::image::reference::Pin;

    /// Answers `ps` with an app and a db container, `container inspect` with app on image
    /// `img1` and db on `dbimg`, and `image inspect` with `new_id`.
    struct Podman {
        new_id: &'static str,
    }

    impl Runner for Podman {
        fn run(&self, cmd: &Cmd) -> Result<Output, RunError> {
            let stdout = match cmd.args.first().map(String::as_str) {
                Some("ps") => "c-app\nc-db\n".to_owned(),
                Some("container") => r#"[{"Id": "c-app", "Image": "img1", "State": {"Status": "running"}, "Config": {"Labels": {"com.docker.compose.service": "app"}}},
                    {"Id": "c-db", "Image": "sha256:dbimg", "State": {"Status": "running"}, "Config": {"Labels": {"com.docker.compose.service": "db"}}}]"#
                    .to_owned(),
                _ => format!("{}\n", self.new_id),
            };
            Ok(Output {
                stdout,
                stderr: String::new(),
            })
        }
    }

    #[test]
    fn only_the_changed_service_is_recreated_unless_it_runs_the_image_already() {
        let root = tempfile::tempdir().unwrap();
        let folder = root.path().join("svc");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join("compose.yml"),
            "services:\n  app:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n  db:\n    image: ${SERVICE_DB_IMAGE_HASHED}\n",
        )
        .unwrap();
        let config = config_for(root.path());
        let dir = ServiceDir {
            name: "svc".into(),
            env_file: folder.join(".env"),
            path: folder,
            trusted: Default::default(),
            project: "svc".into(),
        };
        let changes = [Change {
            entry: "APP".into(),
            old: None,
            new: Pin::parse(&format!("r.io/app@sha256:{}", "a".repeat(64))).unwrap(),
            retag: None,
            older: None,
        }];
        let plan = plan(&config, &Podman { new_id: "img1" }, &dir, &changes).unwrap();
        assert_eq!(plan, Plan::AlreadyRunning);
        assert!(plan.stop_cmds(&config, &dir).is_empty());
        let plan = plan_for(&config, &dir, &changes);
        let words = |cmds: Vec<Cmd>| -> Vec<String> {
            cmds.iter()
                .map(|c| format!("{} {}", c.program, c.args.join(" ")))
                .collect()
        };
        assert_eq!(
            words(plan.stop_cmds(&config, &dir)),
            ["podman rm -f -t 10 c-app"]
        );
        // The db is left as it is: the gate judges it against what it was before.
        let unchanged: Vec<&str> = plan.unchanged().iter().map(|c| c.id.as_str()).collect();
        assert_eq!(unchanged, ["c-db"]);
        // docker's `rm -f` kills at once: it stops with the grace period first.
        let mut docker = config.clone();
        docker.container_tool = vec!["docker".into()];
        assert_eq!(
            words(plan.stop_cmds(&docker, &dir)),
            ["docker stop -t 10 c-app", "docker rm -f c-app"]
        );
        // A grace period only the compose tool can read: it stops the service itself.
        let file = dir.path.join("compose.yml");
        let text = std::fs::read_to_string(&file).unwrap();
        let with_grace = text.replacen(
            "${SERVICE_APP_IMAGE_HASHED}\n",
            "${SERVICE_APP_IMAGE_HASHED}\n    stop_grace_period: ${GRACE}\n",
            1,
        );
        std::fs::write(&file, with_grace).unwrap();
        let plan = plan_for(&config, &dir, &changes);
        assert_eq!(
            words(plan.stop_cmds(&config, &dir)),
            ["podman-compose stop app", "podman rm -f c-app"]
        );
        assert_eq!(
            words(plan.start_cmds(&config, &dir)),
            ["podman-compose up -d --no-deps app"]
        );
    }

    fn config_for(root: &std::path::Path) -> Config {
        Config::for_tests(&[("CIPUG_SERVICES_ROOT", root.to_str().unwrap())], root)
    }

    /// Answers `ps` with a running db container and, from look `empty` on, a running app
    /// container (`container inspect` says which is which).
    struct Starting {
        empty: usize,
        looks: std::sync::atomic::AtomicUsize,
    }

    impl Runner for Starting {
        fn run(&self, cmd: &Cmd) -> Result<Output, RunError> {
            let container = |id: &str, service: &str| {
                format!(
                    r#"{{"Id": "{id}", "State": {{"Status": "running"}}, "Config": {{"Labels": {{"com.docker.compose.service": "{service}"}}}}}}"#
                )
            };
            let stdout = match cmd.args.first().map(String::as_str) {
                Some("ps") => {
                    let n = self.looks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if n < self.empty {
                        "c-db\n"
                    } else {
                        "c-db\nc-app\n"
                    }
                    .to_owned()
                }
                _ if cmd.args.iter().any(|a| a == "c-app") => {
                    format!(
                        "[{}, {}]",
                        container("c-db", "db"),
                        container("c-app", "app")
                    )
                }
                _ => format!("[{}]", container("c-db", "db")),
            };
            Ok(Output {
                stdout,
                stderr: String::new(),
            })
        }
    }

    #[test]
    fn the_next_service_goes_on_once_the_containers_run_or_the_start_ended() {
        let config = config_for(std::path::Path::new("/"));
        let looks = |r: &Starting| r.looks.load(std::sync::atomic::Ordering::SeqCst);
        // Running after three looks, the start command still going: on after the third.
        let (_ended, end) = std::sync::mpsc::channel::<()>();
        let runner = Starting {
            empty: 2,
            looks: Default::default(),
        };
        StartWatch::new("svc", &["app".into()]).wait(&config, &runner, &end);
        assert_eq!(looks(&runner), 3);
        // The start ended before the first look: on at once, nothing asked.
        let (ended, end) = std::sync::mpsc::channel();
        ended.send(()).unwrap();
        let runner = Starting {
            empty: usize::MAX,
            looks: Default::default(),
        };
        StartWatch::new("svc", &["app".into()]).wait(&config, &runner, &end);
        assert_eq!(looks(&runner), 0);
        // The start's thread gone (a panic, say) without a word: on as well.
        let (ended, end) = std::sync::mpsc::channel::<()>();
        drop(ended);
        StartWatch::new("svc", &[]).wait(&config, &runner, &end);
        assert_eq!(looks(&runner), 0);
    }

    fn plan_for(config: &Config, dir: &ServiceDir, changes: &[Change]) -> Plan {
        plan(config, &Podman { new_id: "img2" }, dir, changes).unwrap()
    }

    #[test]
    fn a_container_that_stopped_by_itself_during_its_removal_counts_as_stopped() {
        use crate::adapters::recording::Recording;
        let config = config_for(std::path::Path::new("/"));
        let dir = ServiceDir {
            name: "svc".into(),
            path: "/srv/svc".into(),
            env_file: "/srv/svc/.env".into(),
            trusted: Default::default(),
            project: "svc".into(),
        };
        let plan = Plan::Services {
            services: vec!["app".into()],
            containers: vec!["c-app".into()],
            dependents: Vec::new(),
            stop_secs: Some(10),
            unchanged: Vec::new(),
            one_shots: Vec::new(),
        };
        let improper = "Error: container state improper: stopped";
        let app = |status: &str| {
            format!(
                r#"[{{"Id": "c-app", "Name": "svc_app_1", "State": {{"Status": "{status}", "ExitCode": 0}}}}]"#
            )
        };
        let racing = |ps: &str, status: &str| {
            Recording::new()
                .fail("rm -f -t 10", improper)
                .answer("ps -a", ps)
                .answer("container inspect", &app(status))
        };
        // Exited at the end of its grace period: removed again, without one.
        let runner = racing("c-app\n", "exited");
        plan.stop(&config, &runner, &dir).unwrap();
        assert_eq!(
            runner.count("podman rm -f c-app"),
            1,
            "{:?}",
            runner.calls()
        );
        // Already gone: nothing left to remove.
        let runner = racing("", "exited");
        plan.stop(&config, &runner, &dir).unwrap();
        assert_eq!(
            runner.count("podman rm -f c-app"),
            0,
            "{:?}",
            runner.calls()
        );
        // Still running: the error stays, nothing is retried.
        let runner = racing("c-app\n", "running");
        let e = plan.stop(&config, &runner, &dir).unwrap_err().to_string();
        assert!(
            e.contains(improper) && e.contains("svc_app_1 running, image"),
            "{e}"
        );
        assert_eq!(
            runner.count("podman rm -f c-app"),
            0,
            "{:?}",
            runner.calls()
        );
        // The removal fails again: the error stays.
        let runner = racing("c-app\n", "exited").fail("rm -f c-app", "Error: busy");
        let e = plan.stop(&config, &runner, &dir).unwrap_err().to_string();
        assert!(
            e.contains(improper) && e.contains("again failed") && e.contains("busy"),
            "{e}"
        );
    }
}
