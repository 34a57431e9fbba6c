//! All terminal output goes through here: stdout carries data, stderr everything else.
//!
//! A closed pipe (`spherectl plan | head`) is not an error: writes to it are dropped quietly.

use std::io::{IsTerminal, Write};

/// Whether to colour output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Where output goes and how it looks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Printer {
    pub(crate) color_stdout: bool,
    pub(crate) color_stderr: bool,
    /// Terminal width for wrapped diagnostics.
    pub(crate) width: usize,
}

impl Printer {
    /// Resolves `--color` against the terminals and `NO_COLOR`.
    pub(crate) fn new(choice: ColorChoice) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let decide = |terminal: bool| match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => terminal && !no_color,
        };
        let width = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).unwrap_or(100);
        Printer {
            color_stdout: decide(std::io::stdout().is_terminal()),
            color_stderr: decide(std::io::stderr().is_terminal()),
            width,
        }
    }

    /// Writes data to stdout.
    pub(crate) fn out(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }

    /// Writes a message, warning or diagnostic to stderr.
    pub(crate) fn err(&self, text: &str) {
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(text.as_bytes());
        let _ = stderr.flush();
    }

    /// Whether stderr is a terminal that can show progress bars (not `TERM=dumb`).
    pub(crate) fn stderr_is_terminal(&self) -> bool {
        std::io::stderr().is_terminal()
            && std::env::var_os("TERM").is_none_or(|term| term != "dumb")
    }

    /// Whether stdin is a terminal (to ask for confirmation).
    pub(crate) fn stdin_is_terminal(&self) -> bool {
        std::io::stdin().is_terminal()
    }

    /// Wraps text in an ANSI colour when colour is on for stderr.
    pub(crate) fn paint_err(&self, text: &str, color: Color) -> String {
        paint(self.color_stderr, text, color)
    }
}

/// The few colours output uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Color {
    Red,
    Green,
    Yellow,
    Bold,
}

/// Wraps text in an ANSI colour when `on`.
pub(crate) fn paint(on: bool, text: &str, color: Color) -> String {
    if !on {
        return text.to_owned();
    }
    let code = match color {
        Color::Red => "31",
        Color::Green => "32",
        Color::Yellow => "33",
        Color::Bold => "1",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}
