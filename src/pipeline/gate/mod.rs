//! The health gate after a restart (and after a rollback). It watches the containers of the
//! service's compose project, read from `container inspect`, until each one
//!
//! - runs (`created` is allowed for a few seconds),
//! - runs an image the gate expects: every pin the update put in place must be run by some
//!   container (by image ID, as `image inspect` gives it for the pin) and no container may
//!   still run an image the update replaced; containers whose image did not change keep it,
//! - is healthy where a healthcheck is defined,
//! - and has stayed up for `HEALTH_SETTLE` seconds with the same restart count and start
//!   time.
//!
//! `restarting`, `exited`, `unhealthy`, a restart count or a start time that moves, a
//! container that goes away or an image that was replaced fail the gate at once: a
//! crash-looping container is "running" for an instant between its restarts, which a single
//! look cannot tell from a healthy one. Reaching that state may take `HEALTH_TIMEOUT`
//! seconds, the settle period comes on top. A one-shot that finished with exit code 0
//! (`restart: "no"`) is done rather than exited, when it runs a pin the update put in place
//! or belongs to a compose service the update did not change; it too must stay as it is
//! for the settle period.
//!
//! The containers the update left as they are (the other compose services of a project
//! whose changed services were recreated) are judged against themselves, as they were read
//! before anything was stopped ([`Expected::unchanged`]): they fail the gate only when
//! their restart count or start time moved, when they became unhealthy, stopped with a
//! failure or went away. A db that restarted once long ago, or an `init` that finished, is
//! no reason to undo an update.
//!
//! podman runs healthchecks from systemd timers; where none run (no systemd as PID 1),
//! cipug runs `podman healthcheck run` itself while it waits, so the gate still sees them.

pub mod expect;
mod image_ids;
pub mod progress;
pub mod slots;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::adapters::compose_flavour::ContainerKind;
use crate::adapters::container::{self, healthcheck_cmd, short, Container};
use crate::adapters::runner::Runner;
use crate::config::Config;
pub use image_ids::ImageIds;

/// The images the gate checks, as pins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// Pins that were put in place: some container must run each one.
    pub run: Vec<String>,
    /// Pins that were replaced: no container may run them any more.
    pub replaced: Vec<String>,
    /// The compose services whose image the update changed (only theirs may have finished
    /// as one-shots that ran a new pin). Empty: not known, every container is taken as one.
    pub services: Vec<String>,
    /// Every pin in the `.env` now: a replaced pin's image may still run where one of these
    /// has it too.
    pub pinned: Vec<String>,
    /// The compose services whose image is written without a variable: they may run a
    /// replaced pin's image (it is theirs, not cipug's).
    pub fixed: Vec<String>,
    /// (compose service, pin): each container of the service must run the pin's image.
    pub wanted: Vec<(String, String)>,
    /// The containers the update did not recreate, as they were before it: each is judged
    /// against itself.
    pub unchanged: Vec<Container>,
    /// The changed compose services that were finished one-shots before the update: only
    /// theirs may have finished with exit code 0 (a service that ran before and now exits,
    /// even with 0, fails). `None`: not known (nothing ran before), any may.
    pub one_shots: Option<Vec<String>>,
}

/// Containers in "created" longer than this did not start.
const START_GRACE: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(250);
/// How often the gate looks once only the settle period remains: a crash loop moves the
/// restart count or start time and an exit stays visible, so fewer looks miss nothing, and
/// leave the CPU to the services still being restarted.
const SETTLED_POLL: Duration = Duration::from_secs(2);
/// How often cipug runs podman's healthchecks itself while one has not passed yet.
const HEALTHCHECK_EVERY: Duration = Duration::from_secs(1);

/// Waits for the compose project of the service in `dir` to pass the gate: the containers
/// of its last look. The error says which container failed and how.
pub fn wait(
    config: &Config,
    runner: &dyn Runner,
    dir: &crate::services::ServiceDir,
    expected: &Expected,
) -> Result<Vec<Container>, String> {
    let name = dir.name.as_str();
    let project = dir.project.clone();
    let images = ImageIds::resolve(config, runner, expected)?;
    let settle = Duration::from_secs(config.health_settle);
    let deadline = Duration::from_secs(config.health_timeout) + settle;
    let started = Instant::now();
    let mut watch = Watch::new(&project, settle, started).knowing(&expected.unchanged);
    let podman = ContainerKind::of(config) == ContainerKind::Podman;
    let mut last_check: Option<Instant> = None;
    // While only the settle period remains, the containers seen last, looked at alone; the
    // project's list again for the look that may pass.
    let mut known: Option<Vec<String>> = None;
    let mut progress = crate::pipeline::gate::progress::Progress::new(name, deadline);
    loop {
        let mut pause = POLL;
        let looked = match known.take() {
            Some(ids) => container::inspect(config, runner, &ids),
            None => container::list(config, runner, &project),
        };
        let waiting = match looked {
            Ok(list) => match watch.observe(&list, &images, Instant::now())? {
                Verdict::Pass => {
                    log::debug!(
                        "{name}: {} container(s) up and unchanged for {}s, after {:.1}s",
                        list.len(),
                        settle.as_secs(),
                        started.elapsed().as_secs_f64()
                    );
                    return Ok(list);
                }
                Verdict::Wait(waiting) => {
                    if podman && last_check.is_none_or(|t| t.elapsed() >= HEALTHCHECK_EVERY) {
                        run_healthchecks(config, runner, &list);
                        last_check = Some(Instant::now());
                    }
                    waiting
                }
                Verdict::Settling { reasons, left } => {
                    // Look again when the settle period ends, or two seconds from now.
                    pause = left.min(SETTLED_POLL) + Duration::from_millis(5);
                    if left > SETTLED_POLL {
                        known = Some(list.iter().map(|c| c.id.clone()).collect());
                    }
                    reasons
                }
            },
            // A container removed between `ps` and `inspect` (or since the last look): the
            // next look, at the whole list, tells.
            Err(e) => vec![e.to_string()],
        };
        if started.elapsed() >= deadline {
            return Err(format!(
                "not ready after {}s: {}",
                deadline.as_secs(),
                waiting.join(", ")
            ));
        }
        progress.say(&waiting);
        std::thread::sleep(pause);
    }
}

/// Runs the healthcheck of every container whose check has not passed yet.
fn run_healthchecks(config: &Config, runner: &dyn Runner, list: &[Container]) {
    for c in list {
        if c.health().as_deref() == Some("starting") {
            // Exit 1 just means "not healthy yet": the next inspect says the rest.
            let _ = runner.run(&healthcheck_cmd(config, c.name()));
        }
    }
}

/// What one look at the containers says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every check holds and every container has been up for the settle period.
    Pass,
    /// Not there yet, for these reasons.
    Wait(Vec<String>),
    /// Every check holds; only the settle period remains, `left` of it at the most.
    Settling {
        /// What each container still waits for.
        reasons: Vec<String>,
        /// The longest settle time any container still has to wait.
        left: Duration,
    },
}

/// Why one container does not pass yet.
enum Pending {
    /// Not running, healthy or right yet.
    Wait(String),
    /// Only the settle period remains, with this much of it left.
    Settle(String, Duration),
}

/// What the gate first saw of a running container.
#[derive(Debug, Clone)]
struct Seen {
    name: String,
    restart_count: u64,
    started_at: String,
    up_since: Instant,
}

/// The gate's memory between looks: when each container was first seen running, with
/// which restart count and start time, and the containers the update left as they are.
#[derive(Debug)]
pub struct Watch {
    project: String,
    settle: Duration,
    started: Instant,
    seen: BTreeMap<String, Seen>,
    /// The containers the update did not recreate, by id, as they were before it.
    before: BTreeMap<String, Container>,
}

impl Watch {
    /// A watch over `project` that began at `started`.
    pub fn new(project: &str, settle: Duration, started: Instant) -> Watch {
        Watch {
            project: project.to_owned(),
            settle,
            started,
            seen: BTreeMap::new(),
            before: BTreeMap::new(),
        }
    }

    /// The watch, told which containers the update left as they are (as they were before
    /// it): each must still exist and be no worse than it was.
    pub fn knowing(mut self, unchanged: &[Container]) -> Watch {
        self.before = unchanged
            .iter()
            .map(|c| (c.id.clone(), c.clone()))
            .collect();
        self
    }

    /// Takes one look at the containers, made at `now`. An error fails the gate at once.
    pub fn observe(
        &mut self,
        containers: &[Container],
        images: &ImageIds,
        now: Instant,
    ) -> Result<Verdict, String> {
        if let Some(gone) = self
            .seen
            .iter()
            .find(|(id, _)| !containers.iter().any(|c| &c.id == *id))
        {
            return Err(format!("{} is gone", gone.1.name));
        }
        if let Some(gone) = self
            .before
            .values()
            .find(|b| !containers.iter().any(|c| c.id == b.id))
        {
            return Err(format!(
                "{} is gone (the update did not change it)",
                gone.name()
            ));
        }
        let mut waiting = Vec::new();
        let mut settling = Vec::new();
        let mut left = Duration::ZERO;
        for c in containers {
            match self.observe_one(c, images, now)? {
                None => {}
                Some(Pending::Wait(reason)) => waiting.push(reason),
                Some(Pending::Settle(reason, rest)) => {
                    settling.push(reason);
                    left = left.max(rest);
                }
            }
        }
        if containers.is_empty() {
            waiting.push(format!("no container of project {} yet", self.project));
        }
        for (pin, id) in &images.run {
            if containers.iter().any(|c| c.image_id() == id) {
                continue;
            }
            let reason = format!("no container runs {pin} (image {})", short(id));
            if waiting.is_empty() && settling.is_empty() {
                return Err(reason);
            }
            waiting.push(reason);
        }
        Ok(if !waiting.is_empty() {
            waiting.extend(settling);
            Verdict::Wait(waiting)
        } else if !settling.is_empty() {
            Verdict::Settling {
                reasons: settling,
                left,
            }
        } else {
            Verdict::Pass
        })
    }

    /// One container: an error fails the gate, `Some` is a reason to wait.
    fn observe_one(
        &mut self,
        c: &Container,
        images: &ImageIds,
        now: Instant,
    ) -> Result<Option<Pending>, String> {
        if let Some(wrong) = images.wrong_image(c) {
            return Err(wrong);
        }
        if let Some(before) = self.before.get(&c.id) {
            return unchanged(before, c).map(|wait| wait.map(Pending::Wait));
        }
        let name = c.name();
        let finished = c.finished() && images.may_finish(c);
        match c.status().as_str() {
            "running" => {}
            _ if finished => {}
            "created" | "configured" | "initialized"
                if now.duration_since(self.started) < START_GRACE =>
            {
                return Ok(Some(Pending::Wait(format!("{name} is {}", c.status()))));
            }
            _ => return Err(c.describe()),
        }
        let seen = match self.seen.get(&c.id) {
            Some(seen) => seen,
            None if c.restart_count > 0 => {
                return Err(format!(
                    "{name} restarted {} times since it was created",
                    c.restart_count
                ))
            }
            None => self.seen.entry(c.id.clone()).or_insert(Seen {
                name: name.to_owned(),
                restart_count: c.restart_count,
                started_at: c.state.started_at.clone(),
                up_since: now,
            }),
        };
        if seen.restart_count != c.restart_count || seen.started_at != c.state.started_at {
            return Err(format!(
                "{name} restarted while the gate watched it (restart count {} -> {}, started at {} -> {})",
                seen.restart_count, c.restart_count, seen.started_at, c.state.started_at
            ));
        }
        match c.health().as_deref() {
            _ if finished => {}
            None | Some("healthy") => {}
            Some("unhealthy") => return Err(format!("{name} is unhealthy")),
            Some(other) => return Ok(Some(Pending::Wait(format!("{name} is {other}")))),
        }
        let up = now.duration_since(seen.up_since);
        if up < self.settle {
            let reason = format!(
                "{name} {} for {:.1}s of {}s",
                if finished { "done" } else { "up" },
                up.as_secs_f64(),
                self.settle.as_secs()
            );
            return Ok(Some(Pending::Settle(reason, self.settle - up)));
        }
        Ok(None)
    }
}

/// A container the update left as it is, judged against what it was `before`: an error when
/// it got worse, `Some` while its healthcheck has not passed yet.
fn unchanged(before: &Container, now: &Container) -> Result<Option<String>, String> {
    let name = now.name();
    if before.restart_count != now.restart_count || before.state.started_at != now.state.started_at
    {
        return Err(format!(
            "{name} restarted during the update, which did not change it (restart count {} -> {}, started at {} -> {})",
            before.restart_count, now.restart_count, before.state.started_at, now.state.started_at
        ));
    }
    let same = before.status() == now.status() && before.state.exit_code == now.state.exit_code;
    if !(same || now.running() || now.finished()) {
        return Err(format!(
            "{}, which the update did not change (before it: {})",
            now.describe(),
            before.describe()
        ));
    }
    match now.health().as_deref() {
        Some("unhealthy") if before.health().as_deref() != Some("unhealthy") => Err(format!(
            "{name} became unhealthy during the update, which did not change it"
        )),
        Some("starting") => Ok(Some(format!("{name} is starting"))),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(id: &str, image: &str, status: &str, restarts: u64, started: &str) -> Container {
        let json = serde_json::json!([{
            "Id": id, "Name": format!("p_{id}_1"), "Image": image, "RestartCount": restarts,
            "State": {"Status": status, "StartedAt": started, "ExitCode": 1},
        }]);
        container::parse_inspect(&json.to_string())
            .unwrap()
            .remove(0)
    }

    fn with_health(mut c: Container, health: &str) -> Container {
        c.state.health = Some(container::HealthState {
            status: health.into(),
        });
        c
    }

    fn images() -> ImageIds {
        ImageIds::new(
            vec![("reg/app@sha256:new".into(), "new".into())],
            vec![("reg/app@sha256:old".into(), "old".into())],
        )
    }

    /// Looks at `looks` one after another, 1 s apart, with a settle period of 3 s; returns
    /// the verdict of each look until the first error.
    fn watch(looks: &[Vec<Container>]) -> Vec<Result<Verdict, String>> {
        let start = Instant::now();
        let mut watch = Watch::new("p", Duration::from_secs(3), start);
        let mut verdicts = Vec::new();
        for (i, look) in looks.iter().enumerate() {
            let verdict = watch.observe(look, &images(), start + Duration::from_secs(i as u64));
            let failed = verdict.is_err();
            verdicts.push(verdict);
            if failed {
                break;
            }
        }
        verdicts
    }

    fn last(looks: &[Vec<Container>]) -> Result<Verdict, String> {
        watch(looks).pop().unwrap()
    }

    #[test]
    fn passes_after_the_settle_period_only() {
        let app = container("a", "new", "running", 0, "t1");
        let other = container("b", "sha256:unchanged", "running", 0, "t1");
        let look = vec![app, other];
        let verdicts = watch(&vec![look; 4]);
        assert!(matches!(
            &verdicts[2],
            Ok(Verdict::Settling { reasons, left })
                if reasons[0].contains("up for 2.0s of 3s") && *left == Duration::from_secs(1)
        ));
        assert_eq!(verdicts[3], Ok(Verdict::Pass));
    }

    #[test]
    fn settles_only_when_nothing_else_is_awaited() {
        let app = container("a", "new", "running", 0, "t1");
        let starting = with_health(
            container("b", "sha256:other", "running", 0, "t1"),
            "starting",
        );
        // One container still starting: the gate keeps looking often.
        match last(&[vec![app.clone(), starting]]) {
            Ok(Verdict::Wait(w)) => {
                assert!(w.iter().any(|r| r.contains("p_b_1 is starting")), "{w:?}");
                assert!(w.iter().any(|r| r.contains("p_a_1 up for")), "{w:?}");
            }
            other => panic!("{other:?}"),
        }
        // Only the settle period left, of which all remains at the first look.
        match last(&[vec![app]]) {
            Ok(Verdict::Settling { left, .. }) => assert_eq!(left, Duration::from_secs(3)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fails_at_once() {
        let running = container("a", "new", "running", 0, "t1");
        let cases: Vec<(&str, Vec<Vec<Container>>, &str)> = vec![
            (
                "restart count moves",
                vec![
                    vec![running.clone()],
                    vec![container("a", "new", "running", 1, "t1")],
                ],
                "restart count 0 -> 1",
            ),
            (
                "start time moves",
                vec![
                    vec![running.clone()],
                    vec![container("a", "new", "running", 0, "t2")],
                ],
                "started at t1 -> t2",
            ),
            (
                "restarted before the first look",
                vec![vec![container("a", "new", "running", 4, "t1")]],
                "restarted 4 times",
            ),
            (
                "restarting",
                vec![vec![container("a", "new", "restarting", 2, "t1")]],
                "p_a_1 restarting",
            ),
            (
                "exited",
                vec![
                    vec![running.clone()],
                    vec![container("a", "new", "exited", 0, "t1")],
                ],
                "p_a_1 exited (exit code 1)",
            ),
            ("gone", vec![vec![running.clone()], vec![]], "p_a_1 is gone"),
            (
                "old image",
                vec![vec![container("a", "sha256:old", "running", 0, "t1")]],
                "still runs reg/app@sha256:old",
            ),
            (
                "unhealthy",
                vec![vec![with_health(running.clone(), "unhealthy")]],
                "p_a_1 is unhealthy",
            ),
            (
                "new image not run",
                vec![vec![container("b", "other", "running", 0, "t1")]; 4],
                "no container runs reg/app@sha256:new",
            ),
        ];
        for (what, looks, want) in cases {
            match last(&looks) {
                Err(e) => assert!(e.contains(want), "{what}: {e}"),
                other => panic!("{what}: {other:?}"),
            }
        }
    }

    #[test]
    fn waits_for_created_starting_and_missing_containers() {
        let cases: Vec<(Vec<Container>, &str)> = vec![
            (
                vec![container("a", "new", "created", 0, "")],
                "p_a_1 is created",
            ),
            (
                vec![with_health(
                    container("a", "new", "running", 0, "t1"),
                    "starting",
                )],
                "p_a_1 is starting",
            ),
            (vec![], "no container of project p yet"),
        ];
        for (look, want) in cases {
            match last(&[look]) {
                Ok(Verdict::Wait(w)) => assert!(w.iter().any(|r| r.contains(want)), "{w:?}"),
                other => panic!("{want}: {other:?}"),
            }
        }
        // Healthy after starting: the settle period counts from the first look at it running.
        let starting = with_health(container("a", "new", "running", 0, "t1"), "starting");
        let healthy = with_health(container("a", "new", "running", 0, "t1"), "healthy");
        let verdicts = watch(&[
            vec![starting],
            vec![healthy.clone()],
            vec![healthy.clone()],
            vec![healthy],
        ]);
        assert_eq!(verdicts[3], Ok(Verdict::Pass));
    }

    #[test]
    fn an_image_both_replaced_and_run_is_fine() {
        let same = ImageIds::new(
            vec![("reg/app@sha256:new".into(), "x".into())],
            vec![("reg/app@sha256:old".into(), "x".into())],
        );
        let on = |image: &str, service: &str| {
            let json = serde_json::json!([{
                "Id": "c", "Image": image, "State": {"Status": "running"},
                "Config": {"Labels": {"com.docker.compose.service": service}},
            }]);
            container::parse_inspect(&json.to_string())
                .unwrap()
                .remove(0)
        };
        assert_eq!(same.replaced_pin(&on("x", "app")), None);
        assert_eq!(
            images().replaced_pin(&on("old", "app")),
            Some("reg/app@sha256:old")
        );
        // Any compose service still on the replaced image fails, the ones the update did not
        // recreate too (a service the compose model missed)...
        let mut only_app = images();
        only_app.services = vec!["app".into()];
        assert_eq!(
            only_app.replaced_pin(&on("old", "db")),
            Some("reg/app@sha256:old")
        );
        let wrong = only_app.wrong_image(&on("old", "db")).unwrap();
        assert!(wrong.contains("`db` was not recreated"), "{wrong}");
        // ... unless a pin still in place has that image (another entry of its own), or its
        // image is written without a variable.
        let mut kept = only_app.clone();
        kept.kept = vec!["old".into()];
        assert_eq!(kept.replaced_pin(&on("old", "db")), None);
        let mut fixed = only_app.clone();
        fixed.fixed = vec!["db".into()];
        assert_eq!(fixed.replaced_pin(&on("old", "db")), None);
        assert!(fixed.replaced_pin(&on("old", "app")).is_some());
    }

    #[test]
    fn each_container_of_a_service_runs_its_pin() {
        let mut ids = images();
        ids.wanted = vec![("app".into(), "reg/app@sha256:new".into(), "new".into())];
        let on = |image: &str, service: &str| {
            let json = serde_json::json!([{
                "Id": "c", "Name": "p_app_2", "Image": image, "State": {"Status": "running"},
                "Config": {"Labels": {"com.docker.compose.service": service}},
            }]);
            container::parse_inspect(&json.to_string())
                .unwrap()
                .remove(0)
        };
        assert_eq!(ids.wrong_image(&on("new", "app")), None);
        assert_eq!(ids.wrong_image(&on("third", "other")), None);
        let wrong = ids.wrong_image(&on("third", "app")).unwrap();
        assert!(
            wrong.contains("p_app_2 runs image third, not reg/app@sha256:new"),
            "{wrong}"
        );
        // An unchanged container's image is checked too.
        let start = Instant::now();
        let before = on("third", "app");
        let mut watch =
            Watch::new("p", Duration::ZERO, start).knowing(std::slice::from_ref(&before));
        assert!(watch.observe(&[before], &ids, start).is_err());
    }

    /// A container of compose service `service` from `container inspect` JSON.
    fn of(service: &str, status: &str, exit: i64, restarts: u64, started: &str) -> Container {
        on(
            &format!("{service}img"),
            service,
            status,
            exit,
            restarts,
            started,
        )
    }

    /// [`of`] on `image`.
    fn on(
        image: &str,
        service: &str,
        status: &str,
        exit: i64,
        restarts: u64,
        started: &str,
    ) -> Container {
        let json = serde_json::json!([{
            "Id": service, "Name": format!("p_{service}_1"), "Image": image,
            "RestartCount": restarts,
            "State": {"Status": status, "StartedAt": started, "ExitCode": exit},
            "Config": {"Labels": {"com.docker.compose.service": service}},
        }]);
        container::parse_inspect(&json.to_string())
            .unwrap()
            .remove(0)
    }

    /// The last verdict of four looks, 1 s apart (settle 3 s), at `looks` (again and again)
    /// after an update of `app` to image `appimg` (and of `worker`) that left `before` as
    /// they were.
    fn judged(before: &[Container], looks: &[Vec<Container>]) -> Result<Verdict, String> {
        let mut images =
            ImageIds::new(vec![("reg/app@sha256:new".into(), "appimg".into())], vec![]);
        images.services = vec!["app".into(), "worker".into()];
        let start = Instant::now();
        let mut watch = Watch::new("p", Duration::from_secs(3), start).knowing(before);
        let mut last = Ok(Verdict::Wait(Vec::new()));
        for (i, look) in looks.iter().cycle().take(4).enumerate() {
            last = watch.observe(look, &images, start + Duration::from_secs(i as u64));
            if last.is_err() {
                break;
            }
        }
        last
    }

    #[test]
    fn unchanged_containers_are_judged_against_themselves() {
        let app = of("app", "running", 0, 0, "t5");
        let db = of("db", "running", 0, 1, "t0");
        let init = of("init", "exited", 0, 0, "t0");
        let healthy = with_health(db.clone(), "healthy");
        let cases: Vec<(&str, Vec<Container>, Vec<Container>, Result<(), &str>)> = vec![
            (
                "restarted once long ago",
                vec![db.clone()],
                vec![db.clone()],
                Ok(()),
            ),
            (
                "finished one-shot",
                vec![init.clone()],
                vec![init.clone()],
                Ok(()),
            ),
            (
                "finished during the update",
                vec![of("init", "running", 0, 0, "t0")],
                vec![init.clone()],
                Ok(()),
            ),
            (
                "healthy",
                vec![healthy.clone()],
                vec![healthy.clone()],
                Ok(()),
            ),
            (
                "restart count moved",
                vec![db.clone()],
                vec![of("db", "running", 0, 2, "t0")],
                Err("restart count 1 -> 2"),
            ),
            (
                "start time moved",
                vec![db.clone()],
                vec![of("db", "running", 0, 1, "t6")],
                Err("started at t0 -> t6"),
            ),
            (
                "became unhealthy",
                vec![healthy.clone()],
                vec![with_health(db.clone(), "unhealthy")],
                Err("p_db_1 became unhealthy"),
            ),
            (
                "exited with a failure",
                vec![db.clone()],
                vec![of("db", "exited", 137, 1, "t0")],
                Err("p_db_1 exited (exit code 137)"),
            ),
            (
                "went away",
                vec![db.clone()],
                vec![],
                Err("p_db_1 is gone (the update did not change it)"),
            ),
        ];
        for (what, before, now, want) in cases {
            let mut look = vec![app.clone()];
            look.extend(now);
            match (judged(&before, &[look]), want) {
                (Ok(Verdict::Pass), Ok(())) => {}
                (Err(e), Err(words)) => assert!(e.contains(words), "{what}: {e}"),
                (got, want) => panic!("{what}: {got:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn a_finished_one_shot_is_done_when_it_may_be() {
        let app = of("app", "running", 0, 0, "t5");
        let done = on("appimg", "app", "exited", 0, 0, "t5");
        let cases: Vec<(&str, Vec<Container>, Result<(), &str>)> = vec![
            // Run again on the new pin.
            ("changed service on its new pin", vec![done.clone()], Ok(())),
            // Started again with the whole project, on an image the update did not change.
            (
                "unchanged service",
                vec![app.clone(), of("init", "exited", 0, 0, "t5")],
                Ok(()),
            ),
            (
                "changed service, failed",
                vec![on("appimg", "app", "exited", 1, 0, "t5")],
                Err("p_app_1 exited (exit code 1)"),
            ),
            (
                "changed service, not on its new pin",
                vec![app.clone(), on("other", "worker", "exited", 0, 0, "t5")],
                Err("p_worker_1 exited (exit code 0)"),
            ),
            (
                "restarted",
                vec![app.clone(), of("init", "exited", 0, 3, "t5")],
                Err("restarted 3 times"),
            ),
        ];
        for (what, look, want) in cases {
            match (judged(&[], &[look]), want) {
                (Ok(Verdict::Pass), Ok(())) => {}
                (Err(e), Err(words)) => assert!(e.contains(words), "{what}: {e}"),
                (got, want) => panic!("{what}: {got:?}, wanted {want:?}"),
            }
        }
        // A service that ran before the update and now exits, even with 0, is not done: only
        // one that was a finished one-shot before may finish again.
        for (one_shots, pass) in [
            (Some(vec![]), false),
            (Some(vec!["app".to_owned()]), true),
            (None, true),
        ] {
            let mut images =
                ImageIds::new(vec![("reg/app@sha256:new".into(), "appimg".into())], vec![]);
            images.services = vec!["app".into()];
            images.one_shots = one_shots.clone();
            let start = Instant::now();
            let mut watch = Watch::new("p", Duration::from_secs(0), start);
            let verdict = watch.observe(std::slice::from_ref(&done), &images, start);
            assert_eq!(verdict.is_ok(), pass, "{one_shots:?}: {verdict:?}");
        }
        // Done once it has stayed so for the settle period; restarted then, it fails.
        let looks = [
            vec![done.clone()],
            vec![done.clone()],
            vec![on("appimg", "app", "running", 0, 1, "t9")],
        ];
        let mut images = ImageIds::new(vec![("pin".into(), "appimg".into())], vec![]);
        images.services = vec!["app".into()];
        let start = Instant::now();
        let mut watch = Watch::new("p", Duration::from_secs(3), start);
        match watch.observe(&looks[0], &images, start) {
            Ok(Verdict::Settling { reasons, .. }) => {
                assert!(reasons[0].contains("p_app_1 done for"), "{reasons:?}")
            }
            other => panic!("{other:?}"),
        }
        let second = watch.observe(&looks[1], &images, start + Duration::from_secs(1));
        assert!(matches!(second, Ok(Verdict::Settling { .. })), "{second:?}");
        let third = watch.observe(&looks[2], &images, start + Duration::from_secs(2));
        assert!(third.unwrap_err().contains("restart count 0 -> 1"));
    }
}
