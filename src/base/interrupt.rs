//! Ctrl-C (SIGINT), SIGTERM and SIGHUP end cipug as they always did, although the commands it
//! runs sit in process groups of their own (so that a time limit can kill all they started),
//! where a terminal's Ctrl-C no longer reaches them. A signal that arrives while no command
//! runs ends cipug at once with the signal's default action; one that arrives while commands
//! run is passed on to their process groups by the runner, and cipug ends the same way when
//! they are gone.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// The signals handled.
const SIGNALS: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

struct Signals {
    /// True while no command runs: a signal then takes its default action at once.
    idle: Arc<AtomicBool>,
    /// The signal caught while commands ran, or 0.
    caught: Arc<AtomicUsize>,
    /// How many commands run now.
    running: Mutex<usize>,
}

static SIGNALS_STATE: OnceLock<Signals> = OnceLock::new();

/// Installs the handlers (once). Failures leave the default actions, which is no worse.
pub fn install() {
    SIGNALS_STATE.get_or_init(|| {
        let state = Signals {
            idle: Arc::new(AtomicBool::new(true)),
            caught: Arc::new(AtomicUsize::new(0)),
            running: Mutex::new(0),
        };
        for signal in SIGNALS {
            // In this order: the default action first when idle, else remember the signal.
            let _ = signal_hook::flag::register_conditional_default(signal, state.idle.clone());
            let _ =
                signal_hook::flag::register_usize(signal, state.caught.clone(), signal as usize);
        }
        state
    });
}

/// The signal caught while commands ran, if any.
pub fn caught() -> Option<i32> {
    let state = SIGNALS_STATE.get()?;
    match state.caught.load(Ordering::SeqCst) {
        0 => None,
        signal => i32::try_from(signal).ok(),
    }
}

/// Ends cipug with the default action of `signal` (as if no handler had been installed).
pub fn end_with(signal: i32) {
    let _ = signal_hook::low_level::emulate_default_handler(signal);
}

/// Marks a command as running while it lives.
pub struct Running(());

impl Running {
    /// A command starts.
    pub fn start() -> Running {
        if let Some(state) = SIGNALS_STATE.get() {
            let mut running = state.running.lock().unwrap_or_else(|e| e.into_inner());
            *running += 1;
            state.idle.store(false, Ordering::SeqCst);
        }
        Running(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let Some(state) = SIGNALS_STATE.get() else {
            return;
        };
        let mut running = state.running.lock().unwrap_or_else(|e| e.into_inner());
        *running = running.saturating_sub(1);
        if *running == 0 {
            state.idle.store(true, Ordering::SeqCst);
            drop(running);
            // A signal that came while the command ran ends cipug now.
            if let Some(signal) = caught() {
                end_with(signal);
            }
        }
    }
}
