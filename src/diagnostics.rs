//! Diagnostics: problems found in the manifests (or by policy), each with a code, a message, a
//! labelled place in the YAML and help, rendered through miette.
//!
//! Stages collect [`Problem`]s into a `Vec` and report them all at once; only the CLI renders.

use std::sync::Arc;

use miette::{
    Diagnostic, LabeledSpan, MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents,
};

use crate::manifest::span::{FileId, Location, Sources};

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
    ///
    /// The text shown is the file's with secret values masked and long lines clipped to a
    /// window around the labels (see [`Snippet`]).
    pub fn to_report(&self, sources: &Sources) -> Rendered {
        let primary_file = self.labels.first().map(|label| label.location.file);
        let primary_spans: Vec<SourceSpan> = self
            .labels
            .iter()
            .filter(|label| Some(label.location.file) == primary_file)
            .map(|label| label.location.span.into())
            .collect();
        let primary = primary_file.map(|file| Snippet::new(sources, file, &primary_spans));
        let mut labels = Vec::new();
        let mut related = Vec::new();
        for (index, label) in self.labels.iter().enumerate() {
            let span = SourceSpan::from(label.location.span);
            if let (Some(snippet), true) = (&primary, Some(label.location.file) == primary_file) {
                let text = Some(label.text.clone());
                let span = snippet.map_span(span);
                labels.push(if index == 0 {
                    LabeledSpan::new_primary_with_span(text, span)
                } else {
                    LabeledSpan::new_with_span(text, span)
                });
            } else {
                let snippet = Snippet::new(sources, label.location.file, &[span]);
                let span = snippet.map_span(span);
                related.push(Rendered {
                    code: None,
                    severity: miette::Severity::Advice,
                    message: label.text.clone(),
                    help: None,
                    source: Some(snippet),
                    labels: vec![LabeledSpan::new_primary_with_span(
                        Some(label.text.clone()),
                        span,
                    )],
                    related: Vec::new(),
                });
            }
        }
        let mut message = match (&self.file, primary_file) {
            (Some(file), None) => format!("{}: {}", file, self.message),
            _ => self.message.clone(),
        };
        let mut help = self.help.clone();
        // A manifest error's message may quote what the parser read (an unknown key, a value):
        // inside a secret's value (or an S3 secret key pasted in place of its reference) that
        // would be the secret itself.
        if let Some(location) = self.location()
            && self.code.starts_with("spherectl::manifest::")
            && self.code != "spherectl::manifest::plaintext_secret"
            && sources.is_masked(location)
        {
            message = format!("{} in a secret (not shown)", masked_message(self.code));
            help = Some(
                "a secret's `value` is `{fromEnv: VARIABLE}` or `{fromFile: PATH}`; an S3 \
                 connection's `secretKey` is `{secret: NAME}`, the name of a Secret"
                    .to_owned(),
            );
        }
        Rendered {
            code: Some(self.code),
            severity: match self.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
                Severity::Advice => miette::Severity::Advice,
            },
            message,
            help,
            source: primary,
            labels,
            related,
        }
    }
}

/// What a problem inside a secret's value says instead of its own message.
fn masked_message(code: &str) -> &'static str {
    match code.rsplit("::").next() {
        Some("unknown_field") => "unknown field",
        Some("invalid_type") => "wrong type",
        Some("invalid_value") => "invalid value",
        Some("duplicate_key") => "duplicate key",
        Some("missing_field") => "missing field",
        Some("yaml") => "invalid YAML",
        _ => "a problem",
    }
}

/// Lines longer than this (in bytes) are shown as a window around their labels: the renderer
/// must never be handed a line it cannot lay out (miette panics past 65,535 columns), and a
/// screenful of one line helps nobody.
const MAX_SHOWN_LINE: usize = 240;
/// Bytes kept before the first label on a clipped line, and in all.
const WINDOW_BEFORE: usize = 60;
const WINDOW: usize = 200;
const ELLIPSIS: &str = "…";

/// The text a diagnostic shows of one file: secrets masked (see [`SourceFile::shown_text`]),
/// long lines clipped. Labels are moved with [`Snippet::map_span`]; the `file:line:col` header
/// still names the column in the whole line.
///
/// [`SourceFile::shown_text`]: crate::manifest::span::SourceFile::shown_text
#[derive(Debug)]
struct Snippet {
    name: String,
    text: Arc<str>,
    /// Kept pieces of the file: (start in the file, end in the file, start in `text`).
    pieces: Vec<(usize, usize, usize)>,
    /// Clipped lines: (start in `text`, end in `text`, characters dropped before the window,
    /// less the ellipsis), for the header's column.
    shifts: Vec<(usize, usize, usize)>,
}

impl Snippet {
    fn new(sources: &Sources, file: FileId, spans: &[SourceSpan]) -> Snippet {
        let (name, text, longest_line) = sources.shown(file);
        let name = name.to_owned();
        if longest_line <= MAX_SHOWN_LINE {
            return Snippet {
                name,
                text: Arc::clone(text),
                pieces: vec![(0, text.len(), 0)],
                shifts: Vec::new(),
            };
        }
        let mut out = String::new();
        let mut pieces: Vec<(usize, usize, usize)> = Vec::new();
        let mut shifts = Vec::new();
        let mut keep = |out: &mut String, start: usize, end: usize| {
            match pieces.last_mut() {
                Some(last) if last.1 == start && last.2 + (last.1 - last.0) == out.len() => {
                    last.1 = end;
                }
                _ => pieces.push((start, end, out.len())),
            }
            out.push_str(&text[start..end]);
        };
        let mut line_start = 0;
        for line in text.split_inclusive('\n') {
            let content = line.trim_end_matches(['\n', '\r']);
            let line_end = line_start + content.len();
            if content.len() <= MAX_SHOWN_LINE {
                keep(&mut out, line_start, line_start + line.len());
            } else {
                let first_label = spans
                    .iter()
                    .map(|span| span.offset())
                    .filter(|offset| (line_start..=line_end).contains(offset))
                    .min();
                let from = first_label.map_or(line_start, |o| o.saturating_sub(WINDOW_BEFORE));
                let from = floor_boundary(text, from.max(line_start));
                let to = floor_boundary(text, (from + WINDOW).min(line_end));
                let shown_start = out.len();
                if from > line_start {
                    out.push_str(ELLIPSIS);
                }
                keep(&mut out, from, to);
                if to < line_end {
                    out.push_str(ELLIPSIS);
                }
                if from > line_start {
                    let dropped = text[line_start..from].chars().count();
                    shifts.push((shown_start, out.len(), dropped - ELLIPSIS.chars().count()));
                }
                keep(&mut out, line_end, line_start + line.len());
            }
            line_start += line.len();
        }
        Snippet { name, text: Arc::from(out), pieces, shifts }
    }

    /// Where a byte of the file is in the shown text (a byte clipped away moves to the nearest
    /// byte shown after it on its line).
    fn map_offset(&self, offset: usize) -> usize {
        let index = self.pieces.partition_point(|piece| piece.1 < offset);
        match self.pieces.get(index) {
            Some(&(start, _, shown)) if offset >= start => shown + (offset - start),
            Some(&(_, _, shown)) => shown,
            None => self.text.len(),
        }
    }

    fn map_span(&self, span: SourceSpan) -> SourceSpan {
        let start = self.map_offset(span.offset());
        let end = self.map_offset(span.offset() + span.len()).max(start);
        SourceSpan::new(start.into(), end - start)
    }
}

fn floor_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

impl SourceCode for Snippet {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let contents =
            self.text.as_ref().read_span(span, context_lines_before, context_lines_after)?;
        let mut column = contents.column();
        if context_lines_before == 0 {
            // The header's column counts characters, as editors do, not bytes; a byte-order
            // mark is not a column.
            let offset = floor_boundary(&self.text, span.offset().min(self.text.len()));
            let line_start = self.text[..offset].rfind('\n').map_or(0, |newline| newline + 1);
            let before = &self.text[line_start..offset];
            column = before.strip_prefix('\u{feff}').unwrap_or(before).chars().count();
        }
        if context_lines_before == 0
            && let Some(&(_, _, dropped)) =
                self.shifts.iter().find(|(start, end, _)| (*start..=*end).contains(&span.offset()))
        {
            column += dropped;
        }
        Ok(Box::new(
            MietteSpanContents::new_named(
                self.name.clone(),
                contents.data(),
                *contents.span(),
                contents.line(),
                column,
                contents.line_count(),
            )
            .with_language("yaml"),
        ))
    }
}

/// A [`Problem`] bound to its source text, ready for a miette handler.
#[derive(Debug)]
pub struct Rendered {
    code: Option<&'static str>,
    severity: miette::Severity,
    message: String,
    help: Option<String>,
    source: Option<Snippet>,
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
