//! Apply progress on stderr: bars on a terminal, one plain line per event elsewhere.
//!
//! On a terminal (indicatif): an overall bar with the elapsed time, one line per change in
//! flight with its own time, a line per finished change above them, and a summary table at the
//! end. When stderr is not a terminal (CI logs, pipes): one line per finished change,
//! `[3/12] created Project/research/x (0.4s)`, and no control codes (colour only with
//! `--color always`). Nothing here writes to stdout.

use std::{
    collections::{BTreeMap, HashMap},
    io::Write,
    sync::{Arc, Mutex, atomic::Ordering},
    time::{Duration, Instant},
};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Event, Outcome, Status, interrupt::Interrupts};
use crate::{
    plan::{Change, Plan},
    printer::{Color, paint},
};

/// The past tense of an action, for a finished change (`created`, `added member`).
pub fn done_verb(action: &str) -> String {
    match action {
        "add-member" => "added member".to_owned(),
        "remove-member" => "removed member".to_owned(),
        "set-balance" => "set balance of".to_owned(),
        "use" => "used".to_owned(),
        "unuse" => "unused".to_owned(),
        other if other.ends_with('e') => format!("{other}d"),
        other => format!("{other}ed"),
    }
}

/// Seconds with one decimal: `0.4s`.
fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

enum View {
    /// One line per event.
    Plain,
    /// indicatif bars.
    Terminal {
        multi: MultiProgress,
        overall: ProgressBar,
        lines: Mutex<HashMap<String, ProgressBar>>,
    },
}

/// The progress of one apply.
pub struct Progress {
    total: usize,
    /// Finished changes; held while a finished change's line is numbered and printed, so that
    /// the numbers come out in order.
    finished: Mutex<usize>,
    started: Mutex<HashMap<String, Instant>>,
    color: bool,
    view: View,
    interrupts: Arc<Interrupts>,
}

impl Progress {
    /// Progress for `total` changes: bars when `terminal`, plain lines otherwise.
    pub fn new(total: usize, terminal: bool, color: bool, interrupts: Arc<Interrupts>) -> Progress {
        let view = if terminal {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let template = if color {
                "{spinner:.green} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} changes"
            } else {
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} changes"
            };
            let overall = multi.add(ProgressBar::new(total as u64));
            overall.set_style(
                ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            overall.enable_steady_tick(Duration::from_millis(100));
            View::Terminal { multi, overall, lines: Mutex::new(HashMap::new()) }
        } else {
            View::Plain
        };
        Progress {
            total,
            finished: Mutex::new(0),
            started: Mutex::new(HashMap::new()),
            color,
            view,
            interrupts,
        }
    }

    /// Prints a line above the bars (or plainly).
    pub fn println(&self, text: &str) {
        match &self.view {
            View::Terminal { multi, .. } if !multi.is_hidden() => {
                let _ = multi.println(text);
            }
            _ => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        }
    }

    /// A sink for messages printed while the bars run (the interrupt handler's).
    pub fn sink(self: &Arc<Self>) -> Arc<dyn Fn(&str) + Send + Sync> {
        let progress = Arc::clone(self);
        Arc::new(move |text: &str| progress.println(text))
    }

    /// Shows one event of the applier.
    pub fn event(&self, event: &Event<'_>) {
        match event {
            Event::Started(change) => self.started(change),
            Event::Finished(change, status) => self.finished(change, status),
        }
    }

    fn started(&self, change: &Change) {
        self.interrupts.started(&change.address);
        if let Ok(mut started) = self.started.lock() {
            started.insert(change.address.clone(), Instant::now());
        }
        if let View::Terminal { multi, lines, .. } = &self.view {
            let line = multi.add(ProgressBar::new_spinner());
            line.set_style(
                ProgressStyle::with_template("  {spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            line.set_message(format!("{} {}", change.action.as_str(), change.address));
            line.enable_steady_tick(Duration::from_millis(100));
            if let Ok(mut lines) = lines.lock() {
                lines.insert(change.address.clone(), line);
            }
        }
    }

    fn finished(&self, change: &Change, status: &Status) {
        self.interrupts.finished(&change.address);
        let took = self
            .started
            .lock()
            .ok()
            .and_then(|mut started| started.remove(&change.address))
            .map_or(Duration::ZERO, |t| t.elapsed());
        let mut finished = self.finished.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *finished += 1;
        let count = *finished;
        let action = change.action.as_str();
        let text = match status {
            Status::Done => format!(
                "[{count}/{}] {} {} ({})",
                self.total,
                paint(self.color, &done_verb(action), Color::Green),
                change.address,
                seconds(took)
            ),
            Status::Failed(message) => {
                // Where the change comes from in the manifests, to fix it there.
                let at = change
                    .source
                    .as_ref()
                    .map(|s| format!(" ({}:{})", s.file, s.line))
                    .unwrap_or_default();
                format!(
                    "[{count}/{}] {} {action} {}{at} ({}): {message}",
                    self.total,
                    paint(self.color, "failed to", Color::Red),
                    change.address,
                    seconds(took)
                )
            }
            Status::Skipped(_) => return,
        };
        if let View::Terminal { overall, lines, .. } = &self.view {
            if let Some(line) =
                lines.lock().ok().and_then(|mut lines| lines.remove(&change.address))
            {
                line.finish_and_clear();
            }
            overall.inc(1);
        }
        self.println(&text);
    }

    /// Removes the bars (before the summary is printed).
    pub fn finish(&self) {
        if let View::Terminal { multi, overall, lines } = &self.view {
            if let Ok(mut lines) = lines.lock() {
                for (_, line) in lines.drain() {
                    line.finish_and_clear();
                }
            }
            overall.finish_and_clear();
            let _ = multi.clear();
        }
    }
}

/// The summary table of an apply, one row per action: done, failed, not started (skipped
/// after a failure, or after an interrupt).
pub fn summary_table(plan: &Plan, outcome: &Outcome, elapsed: Duration) -> String {
    let action_of: HashMap<&str, &'static str> =
        plan.changes.iter().map(|c| (c.address.as_str(), c.action.as_str())).collect();
    let mut rows: BTreeMap<&'static str, [usize; 3]> = BTreeMap::new();
    for (address, status) in &outcome.results {
        let action = action_of.get(address.as_str()).copied().unwrap_or("other");
        let row = rows.entry(action).or_default();
        match status {
            Status::Done => row[0] += 1,
            Status::Failed(_) => row[1] += 1,
            Status::Skipped(_) => row[2] += 1,
        }
    }
    let mut total = [0; 3];
    let mut text =
        format!("  {:<14} {:>5} {:>7} {:>12}\n", "action", "done", "failed", "not started");
    for (action, row) in &rows {
        text.push_str(&format!("  {action:<14} {:>5} {:>7} {:>12}\n", row[0], row[1], row[2]));
        for i in 0..3 {
            total[i] += row[i];
        }
    }
    text.push_str(&format!(
        "  {:<14} {:>5} {:>7} {:>12}   in {}\n",
        "total",
        total[0],
        total[1],
        total[2],
        seconds(elapsed)
    ));
    text
}

/// Runs `read` while a spinner on a terminal counts the objects read so far (shown only when
/// the read takes longer than a moment; nothing at all when stderr is not a terminal).
pub fn reading<T: Send>(
    terminal: bool,
    count: &(dyn Fn() -> usize + Sync),
    read: impl FnOnce() -> T + Send,
) -> T {
    if !terminal {
        return read();
    }
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let ticker = scope.spawn(|| {
            let started = Instant::now();
            let mut spinner: Option<ProgressBar> = None;
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                if spinner.is_none() && started.elapsed() >= Duration::from_millis(500) {
                    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner} reading the platform: {msg} ({elapsed})",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    spinner = Some(bar);
                }
                if let Some(bar) = &spinner {
                    let read = count();
                    bar.set_message(if read == 0 {
                        "listing".to_owned()
                    } else {
                        format!("{read} objects read")
                    });
                    bar.tick();
                }
            }
            if let Some(bar) = spinner {
                bar.finish_and_clear();
            }
        });
        let value = read();
        done.store(true, Ordering::SeqCst);
        let _ = ticker.join();
        value
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_changes_read_in_the_past_tense() {
        assert_eq!(done_verb("create"), "created");
        assert_eq!(done_verb("update"), "updated");
        assert_eq!(done_verb("publish"), "published");
        assert_eq!(done_verb("add-member"), "added member");
        assert_eq!(done_verb("deactivate"), "deactivated");
    }
}
