//! Interrupts (Ctrl-C, SIGTERM, SIGHUP) while spherectl plans or applies.
//!
//! Before an apply starts writing (reading, planning, waiting for the lock or for a `yes`), an
//! interrupt stops the process at once with exit code 130: nothing has been written. During an
//! apply:
//! 1. the first interrupt starts nothing new and lets the changes in flight finish; the apply
//!    then reports what was done and what was not, and exits 130;
//! 2. a second one lists the changes still in flight (they are not abandoned silently);
//! 3. a third one stops at once (exit 130), naming the changes whose outcome is then unknown.
//!
//! SIGTERM and SIGHUP count as Ctrl-C. The handler runs on its own thread (the `ctrlc` crate),
//! not in signal context, so it may lock and print.

use std::{
    collections::BTreeMap,
    io::Write,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::Instant,
};

/// The exit code of an interrupted command (128 + SIGINT), as shells report it.
pub const EXIT_CODE: i32 = 130;

/// Where the interrupt messages go (the progress display, so they do not tear its bars).
type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// The process's interrupt state, shared by the signal handler, the applier and the progress
/// display.
pub struct Interrupts {
    /// Set by the first interrupt during an apply: the applier starts nothing new.
    pub flag: Arc<AtomicBool>,
    applying: AtomicBool,
    presses: AtomicUsize,
    /// The changes in flight and when each started, by address.
    in_flight: Mutex<BTreeMap<String, Instant>>,
    sink: Mutex<Option<Sink>>,
    /// What to do before an interrupt stops the process at once (release a `serve` lease,
    /// which would otherwise outlive the process by its time to live), by id.
    exit_hooks: Mutex<Vec<(u64, ExitHook)>>,
    next_hook: AtomicU64,
}

/// Run before an interrupt stops the process at once.
pub type ExitHook = Box<dyn Fn() + Send + Sync>;

/// Registers `hook` to run before an interrupt stops the process at once (installing the
/// handler); returns its id for [`remove_exit_hook`].
pub fn add_exit_hook(hook: ExitHook) -> u64 {
    let state = Interrupts::install();
    let id = state.next_hook.fetch_add(1, Ordering::SeqCst);
    if let Ok(mut hooks) = state.exit_hooks.lock() {
        hooks.push((id, hook));
    }
    id
}

/// Unregisters a hook of [`add_exit_hook`] (its work was done the ordinary way).
pub fn remove_exit_hook(id: u64) {
    if let Ok(mut hooks) = Interrupts::install().exit_hooks.lock() {
        hooks.retain(|(hook, _)| *hook != id);
    }
}

impl Interrupts {
    /// Interrupt state with no handler installed (for tests of the applier).
    pub fn new() -> Interrupts {
        Interrupts {
            flag: Arc::new(AtomicBool::new(false)),
            applying: AtomicBool::new(false),
            presses: AtomicUsize::new(0),
            in_flight: Mutex::new(BTreeMap::new()),
            sink: Mutex::new(None),
            exit_hooks: Mutex::new(Vec::new()),
            next_hook: AtomicU64::new(0),
        }
    }

    /// Stops the process at once with exit code 130, after the exit hooks.
    fn exit(&self) -> ! {
        let hooks = self.exit_hooks.lock().map(|mut h| std::mem::take(&mut *h)).unwrap_or_default();
        for (_, hook) in hooks {
            hook();
        }
        std::process::exit(EXIT_CODE);
    }

    /// Installs the process's handler (once) and returns its state.
    pub fn install() -> Arc<Interrupts> {
        static STATE: OnceLock<Arc<Interrupts>> = OnceLock::new();
        Arc::clone(STATE.get_or_init(|| {
            let state = Arc::new(Interrupts::new());
            let handler = Arc::clone(&state);
            // Fails only when another handler is installed (a test harness): then the default
            // action stays, which stops the process.
            let _ = ctrlc::set_handler(move || handler.on_signal());
            state
        }))
    }

    /// An apply starts writing: from now on an interrupt is graceful.
    pub fn begin_apply(&self, sink: Option<Sink>) {
        self.flag.store(false, Ordering::SeqCst);
        self.presses.store(0, Ordering::SeqCst);
        if let Ok(mut in_flight) = self.in_flight.lock() {
            in_flight.clear();
        }
        if let Ok(mut slot) = self.sink.lock() {
            *slot = sink;
        }
        self.applying.store(true, Ordering::SeqCst);
    }

    /// The apply is over: an interrupt stops the process again.
    pub fn end_apply(&self) {
        self.applying.store(false, Ordering::SeqCst);
        if let Ok(mut slot) = self.sink.lock() {
            *slot = None;
        }
    }

    /// Whether the current apply was interrupted.
    pub fn interrupted(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// A change started.
    pub fn started(&self, address: &str) {
        if let Ok(mut in_flight) = self.in_flight.lock() {
            in_flight.insert(address.to_owned(), Instant::now());
        }
    }

    /// A change finished.
    pub fn finished(&self, address: &str) {
        if let Ok(mut in_flight) = self.in_flight.lock() {
            in_flight.remove(address);
        }
    }

    /// The changes in flight, with how long each has run, by address.
    pub fn in_flight(&self) -> Vec<(String, f64)> {
        self.in_flight
            .lock()
            .map(|in_flight| {
                in_flight.iter().map(|(a, t)| (a.clone(), t.elapsed().as_secs_f64())).collect()
            })
            .unwrap_or_default()
    }

    fn say(&self, text: &str) {
        let sink = self.sink.lock().ok().and_then(|slot| slot.clone());
        match sink {
            Some(sink) => sink(text),
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        }
    }

    fn in_flight_list(&self) -> String {
        self.in_flight()
            .iter()
            .map(|(address, seconds)| format!("\n  - {address} (running for {seconds:.1}s)"))
            .collect()
    }

    /// What an interrupt does: see the module's documentation.
    pub fn on_signal(&self) {
        if !self.applying.load(Ordering::SeqCst) {
            let _ = writeln!(std::io::stderr().lock(), "\ninterrupted: nothing was applied");
            self.exit();
        }
        let presses = self.presses.fetch_add(1, Ordering::SeqCst) + 1;
        match presses {
            1 => {
                self.flag.store(true, Ordering::SeqCst);
                let count = self.in_flight().len();
                self.say(&format!(
                    "interrupt: starting no new change; waiting for the {count} in flight to finish (interrupt again to list them, a third time to stop at once)"
                ));
            }
            2 => {
                let list = self.in_flight_list();
                if list.is_empty() {
                    self.say("interrupt: no change is in flight any more; finishing");
                } else {
                    self.say(&format!(
                        "interrupt: still in flight, waiting for them to finish (interrupt once more to stop at once):{list}"
                    ));
                }
            }
            _ => {
                let list = self.in_flight_list();
                let text = if list.is_empty() {
                    "interrupt: stopping at once".to_owned()
                } else {
                    format!(
                        "interrupt: stopping at once; whether these changes were applied is unknown:{list}\n  help: run `spherectl plan` to see what is left"
                    )
                };
                let _ = writeln!(std::io::stderr().lock(), "{text}");
                self.exit();
            }
        }
    }
}

impl Default for Interrupts {
    fn default() -> Self {
        Interrupts::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_interrupt_of_an_apply_sets_the_flag_and_the_second_lists_in_flight() {
        let said = Arc::new(Mutex::new(Vec::<String>::new()));
        let interrupts = Interrupts::new();
        let sink = Arc::clone(&said);
        interrupts.begin_apply(Some(Arc::new(move |text: &str| {
            sink.lock().unwrap().push(text.to_owned());
        })));
        interrupts.started("Project/research/x");
        interrupts.on_signal();
        assert!(interrupts.interrupted());
        interrupts.on_signal();
        let said = said.lock().unwrap();
        assert!(said[0].contains("waiting for the 1 in flight"), "{said:?}");
        assert!(said[1].contains("- Project/research/x (running for"), "{said:?}");
        interrupts.end_apply();
    }
}
