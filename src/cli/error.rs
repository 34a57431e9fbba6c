//! The CLI's one error type: a message, optional help and the exit status, printed one way.
//!
//! Stage errors with a place in the YAML are `Problem`s rendered by miette; everything else a
//! command refuses (a platform that cannot be opened, a stale saved plan, a bad flag value) is a
//! [`CliError`], so every such message reads `error: …` with its `help:` under it.

use crate::{
    ExitStatus,
    printer::{Color, Printer},
};

/// Why a command stopped, and the exit status for it.
#[derive(Debug)]
pub(crate) struct CliError {
    pub(crate) status: ExitStatus,
    pub(crate) message: String,
    pub(crate) help: Option<String>,
}

impl CliError {
    /// An error (exit 1).
    pub(crate) fn failure(message: impl Into<String>) -> Self {
        CliError { status: ExitStatus::Failure, message: message.into(), help: None }
    }

    /// A usage error (exit 64).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        CliError { status: ExitStatus::Usage, message: message.into(), help: None }
    }

    #[must_use]
    pub(crate) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Prints the error to stderr and returns its exit status.
    pub(crate) fn report(&self, printer: &Printer) -> ExitStatus {
        let mut text = format!("{} {}\n", printer.paint_err("error:", Color::Red), self.message);
        if let Some(help) = &self.help {
            text.push_str(&format!("  help: {help}\n"));
        }
        printer.err(&text);
        self.status
    }
}
