//! Waiting for a running command within its time limit: its output pipes read in threads
//! (each kept up to [`OUTPUT_LIMIT`]), its process group killed when the limit passes, and
//! pipes that processes it left behind still hold given up soon after.

use std::io::Read;
use std::process::{Child, ExitStatus};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long to wait for the output pipes to close after the process group was killed (a
/// process that left the group may still hold them); then they are given up.
pub(super) const DRAIN_AFTER_KILL: Duration = Duration::from_secs(2);

/// The bytes of each output stream kept; the rest is read and dropped, so the command is
/// never blocked on a full pipe.
pub const OUTPUT_LIMIT: usize = 8 << 20;

/// What one output stream gave.
#[derive(Debug, Default)]
pub(super) struct Stream {
    /// The bytes kept, at most [`OUTPUT_LIMIT`].
    pub(super) bytes: Vec<u8>,
    /// How many bytes beyond the limit were dropped.
    pub(super) cut: usize,
}

/// How a command ended.
pub(super) struct Waited {
    /// Its exit status; none when it ran past its limit.
    pub(super) status: Option<ExitStatus>,
    /// Its standard output.
    pub(super) stdout: Stream,
    /// Its standard error.
    pub(super) stderr: Stream,
    /// It exited, but processes it left kept its output open until the limit: they were
    /// killed with its process group.
    pub(super) lingered: bool,
}

/// Waits for `child` and its output pipes at most `limit` in all, reading the output
/// meanwhile. When the limit passes (the child still runs, or something it started still
/// holds a pipe) its whole process group is killed and the pipes are given up after
/// [`DRAIN_AFTER_KILL`].
pub(super) fn wait_within(child: &mut Child, limit: Duration) -> std::io::Result<Waited> {
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + limit;
    let mut passed_on = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        // Ctrl-C and the like reach the command as they would without a group of its own.
        if let (Some(signal), false) = (crate::base::interrupt::caught(), passed_on) {
            kill_group(child, rustix::process::Signal::from_named_raw(signal));
            passed_on = true;
        }
        let now = Instant::now();
        if now >= deadline {
            break None;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(20)));
    };
    if status.is_none() {
        kill_group(child, Some(rustix::process::Signal::KILL));
        let _ = child.wait();
    }
    let mut lingered = false;
    // Once the limit passed, both pipes together get DRAIN_AFTER_KILL more.
    let mut give_up_at: Option<Instant> = None;
    let mut collect = |pipe: &Drain| {
        let until = give_up_at.unwrap_or(deadline);
        if !pipe.closed_within(until.saturating_duration_since(Instant::now()))
            && give_up_at.is_none()
        {
            // The pipe is still open: a process the command started holds it. The group
            // is killed (the leader was reaped, its group lives on while members do); a
            // process that left the group may still hold it, and is given up.
            lingered = status.is_some();
            kill_group(child, Some(rustix::process::Signal::KILL));
            let at = Instant::now() + DRAIN_AFTER_KILL;
            give_up_at = Some(at);
            pipe.closed_within(DRAIN_AFTER_KILL);
        }
        pipe.take()
    };
    let stdout = collect(&stdout);
    let stderr = collect(&stderr);
    Ok(Waited {
        status,
        stdout,
        stderr,
        lingered,
    })
}

/// Sends `signal` to the process group that `child` leads.
pub(super) fn kill_group(child: &Child, signal: Option<rustix::process::Signal>) {
    let (Some(pid), Some(signal)) = (rustix::process::Pid::from_raw(child.id() as i32), signal)
    else {
        return;
    };
    let _ = rustix::process::kill_process_group(pid, signal);
}

/// A pipe read in a thread of its own: what was read so far, and a signal when it closed.
struct Drain {
    read: std::sync::Arc<std::sync::Mutex<Stream>>,
    closed: mpsc::Receiver<()>,
}

impl Drain {
    /// Waits at most `wait` for the pipe to close; true if it did.
    fn closed_within(&self, wait: Duration) -> bool {
        self.closed.recv_timeout(wait).is_ok()
    }

    /// What was read until now (all of it once the pipe closed).
    fn take(&self) -> Stream {
        self.read
            .lock()
            .map(|mut stream| std::mem::take(&mut *stream))
            .unwrap_or_default()
    }
}

/// Reads a pipe to its end in a thread, keeping at most [`OUTPUT_LIMIT`] bytes.
fn drain(pipe: Option<impl Read + Send + 'static>) -> Drain {
    let (tx, closed) = mpsc::channel();
    let read = std::sync::Arc::new(std::sync::Mutex::new(Stream::default()));
    let shared = std::sync::Arc::clone(&read);
    std::thread::spawn(move || {
        if let Some(mut pipe) = pipe {
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => {
                        let Ok(mut stream) = shared.lock() else { break };
                        let room = OUTPUT_LIMIT.saturating_sub(stream.bytes.len()).min(n);
                        stream.bytes.extend_from_slice(&chunk[..room]);
                        stream.cut += n - room;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
        let _ = tx.send(());
    });
    Drain { read, closed }
}
