//! Diagnostics: problems found in the manifests (or by policy), each with a code, a message, a
//! labelled place in the YAML and help, rendered through miette.
//!
//! Stages collect [`Problem`]s into a `Vec` and report them all at once; only the CLI renders.

use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceSpan};

use crate::manifest::span::{Location, Sources};

/// How bad a problem is. Only errors fail a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
    Advice,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Advice => "advice",
        }
    }
}

/// A labelled place in the manifests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub location: Location,
    pub text: String,
}

/// One problem found in the manifests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// A stable code such as `spherectl::manifest::unknown_field`.
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    /// Where the problem is (the first label is the primary one); empty for problems that concern
    /// no single place, such as an empty directory.
    pub labels: Vec<Label>,
    pub help: Option<String>,
    /// A file the problem concerns when there is no span in it (an unreadable file, say).
    pub file: Option<String>,
}

impl Problem {
    /// Returns a new error with the given code and message.
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Problem {
            code,
            severity: Severity::Error,
            message: message.into(),
            labels: Vec::new(),
            help: None,
            file: None,
        }
    }

    /// Returns a new warning with the given code and message.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Problem { severity: Severity::Warning, ..Problem::error(code, message) }
    }

    /// Adds a labelled place.
    #[must_use]
    pub fn at(mut self, location: Location, text: impl Into<String>) -> Self {
        self.labels.push(Label { location, text: text.into() });
        self
    }

    /// Adds help.
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds help when there is some.
    #[must_use]
    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// Names the file concerned.
    #[must_use]
    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Returns the primary location, if any.
    pub fn location(&self) -> Option<Location> {
        self.labels.first().map(|label| label.location)
    }

    /// Turns the problem into a miette diagnostic bound to its source text.
    pub fn to_report(&self, sources: &Sources) -> Rendered {
        let primary_file = self.labels.first().map(|label| label.location.file);
        let mut labels = Vec::new();
        let mut related = Vec::new();
        for (index, label) in self.labels.iter().enumerate() {
            let span = SourceSpan::from(label.location.span);
            if Some(label.location.file) == primary_file {
                let text = Some(label.text.clone());
                labels.push(if index == 0 {
                    LabeledSpan::new_primary_with_span(text, span)
                } else {
                    LabeledSpan::new_with_span(text, span)
                });
            } else {
                related.push(Rendered {
                    code: None,
                    severity: miette::Severity::Advice,
                    message: label.text.clone(),
                    help: None,
                    source: Some(sources.named_source(label.location.file)),
                    labels: vec![LabeledSpan::new_primary_with_span(
                        Some(label.text.clone()),
                        span,
                    )],
                    related: Vec::new(),
                });
            }
        }
        let message = match (&self.file, primary_file) {
            (Some(file), None) => format!("{}: {}", file, self.message),
            _ => self.message.clone(),
        };
        Rendered {
            code: Some(self.code),
            severity: match self.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
                Severity::Advice => miette::Severity::Advice,
            },
            message,
            help: self.help.clone(),
            source: primary_file.map(|file| sources.named_source(file)),
            labels,
            related,
        }
    }
}

/// A [`Problem`] bound to its source text, ready for a miette handler.
#[derive(Debug)]
pub struct Rendered {
    code: Option<&'static str>,
    severity: miette::Severity,
    message: String,
    help: Option<String>,
    source: Option<NamedSource<Arc<str>>>,
    labels: Vec<LabeledSpan>,
    related: Vec<Rendered>,
}

impl std::fmt::Display for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Rendered {}

impl Diagnostic for Rendered {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.code.map(|code| Box::new(code) as Box<dyn std::fmt::Display>)
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help.as_ref().map(|help| Box::new(help) as Box<dyn std::fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|source| source as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() { None } else { Some(Box::new(self.labels.iter().cloned())) }
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(self.related.iter().map(|r| r as &dyn Diagnostic)))
        }
    }
}

/// Renders problems for a terminal (colour when `color` is set) at the given width.
pub fn render(problems: &[Problem], sources: &Sources, color: bool, width: usize) -> String {
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler =
        miette::GraphicalReportHandler::new_themed(theme).with_width(width).with_links(false);
    let mut out = String::new();
    for problem in problems {
        let _ = handler.render_report(&mut out, &problem.to_report(sources));
    }
    out
}
