//! The label reads' own time budget. The labels of an update's images are read when the
//! update is recorded: after the pull, the restart and the health gate, long after the
//! registry's share of the resolution (REGISTRY_TIMEOUT from its first contact) has passed.
//! So each registry has a second budget of REGISTRY_TIMEOUT for all the label reads of the
//! run together, spent only while a label read runs: a read gets what is left as its
//! deadline, in place of the resolution's, and the time it took is taken off. A registry
//! that hangs spends the budget once; the reads after it give up at once.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The label reads' budget of one registry.
#[derive(Debug)]
pub(super) struct LabelBudget {
    /// What is left of it.
    left: Duration,
    /// When the label read in progress must end, if one is in progress.
    deadline: Option<Instant>,
}

impl LabelBudget {
    /// A budget of `total`, no read in progress.
    pub(super) fn new(total: Duration) -> Self {
        LabelBudget {
            left: total,
            deadline: None,
        }
    }

    /// The deadline of the label read in progress, if one is.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

/// A label read in progress on a registry: until it is dropped, the registry's requests end
/// by the label budget's deadline; when dropped, its time is taken off the budget.
pub(super) struct LabelRead<'b> {
    budget: &'b Mutex<LabelBudget>,
    started: Instant,
}

impl<'b> LabelRead<'b> {
    /// Starts a label read on the registry whose budget is `budget`, with what is left of it.
    pub(super) fn start(budget: &'b Mutex<LabelBudget>) -> Self {
        let started = Instant::now();
        let mut left = budget.lock().unwrap_or_else(|e| e.into_inner());
        left.deadline = Some(started + left.left);
        drop(left);
        LabelRead { budget, started }
    }
}

impl Drop for LabelRead<'_> {
    fn drop(&mut self) {
        let mut budget = self.budget.lock().unwrap_or_else(|e| e.into_inner());
        budget.left = budget.left.saturating_sub(self.started.elapsed());
        budget.deadline = None;
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::adapters::runner::SystemRunner;
    use crate::formats::image::reference::ImageRef;
    use crate::resolve::native::transport::TransportSettings;
    use crate::resolve::native::Native;

    const CONFIG: &str = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
    const PIN: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    /// A plain-HTTP registry serving one image with a version label; with `hang`, its
    /// manifests never answer. `asked` counts the requests of the image's manifest.
    fn registry(hang: bool, asked: &Arc<AtomicUsize>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let asked = Arc::clone(asked);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let asked = Arc::clone(&asked);
                std::thread::spawn(move || answer(stream, hang, &asked));
            }
        });
        addr
    }

    fn answer(mut stream: TcpStream, hang: bool, asked: &AtomicUsize) {
        let mut head = Vec::new();
        let mut byte = [0_u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            // A TLS hello (the HTTPS try first) is closed at once.
            if stream.read(&mut byte).unwrap_or(0) == 0 || (head.is_empty() && byte[0] == 0x16) {
                return;
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        let path = head.split(' ').nth(1).unwrap_or_default();
        let body = if path.ends_with(PIN) {
            asked.fetch_add(1, Ordering::SeqCst);
            if hang {
                std::thread::sleep(Duration::from_secs(60));
            }
            format!(
                r#"{{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {{"digest": "{CONFIG}"}}}}"#
            )
        } else if path.ends_with(CONFIG) {
            r#"{"config": {"Labels": {"org.opencontainers.image.version": "1.2.3"}}}"#.into()
        } else {
            "{}".into()
        };
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }

    /// A native client whose REGISTRY_TIMEOUT is `timeout`, after the resolution's deadline
    /// of the registry at `addr` has passed.
    fn after_resolution<'r>(runner: &'r SystemRunner, addr: &str, timeout: Duration) -> Native<'r> {
        let transport = TransportSettings {
            insecure: vec![addr.to_owned()],
            timeout,
            ..TransportSettings::default()
        };
        let native = Native::new(transport, Vec::new(), runner, 1, 1);
        let image = ImageRef::parse(&format!("{addr}/app:1")).unwrap();
        // The resolution meets the registry (its first contact starts the deadline).
        let _ = crate::resolve::Resolve::resolve(&native, &image, "");
        std::thread::sleep(timeout + Duration::from_millis(100));
        native
    }

    #[test]
    fn labels_are_read_after_the_resolution_deadline() {
        let addr = registry(false, &Arc::default());
        let runner = SystemRunner::default();
        let native = after_resolution(&runner, &addr, Duration::from_secs(1));
        let image = native.platform_image(&format!("{addr}/app@{PIN}")).unwrap();
        let version = image.labels.get("org.opencontainers.image.version");
        assert_eq!(version.map(String::as_str), Some("1.2.3"));
    }

    #[test]
    fn a_hanging_registry_spends_the_label_budget_once() {
        let asked = Arc::new(AtomicUsize::new(0));
        let addr = registry(true, &asked);
        let runner = SystemRunner::default();
        let native = after_resolution(&runner, &addr, Duration::from_secs(1));
        let pin = format!("{addr}/app@{PIN}");
        let started = Instant::now();
        assert!(native.platform_image(&pin).is_err());
        let first = started.elapsed();
        assert!(first >= Duration::from_millis(900), "{first:?}");
        // The registry's thread may count the hanging request after the client gave up (a
        // bound only, so that a request never sent fails below instead of hanging here).
        for _ in 0..1000 {
            if asked.load(Ordering::SeqCst) > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let err = native.platform_image(&pin).unwrap_err();
        assert_eq!(asked.load(Ordering::SeqCst), 1, "asked again: {err}");
        assert!(err.to_string().contains("label reads"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
