//! Source positions: every value read from YAML keeps where it came from, so that every
//! diagnostic can point into the user's file.

use std::{
    fmt,
    path::PathBuf,
    sync::{Arc, OnceLock},
};

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

/// Index of a manifest file in [`Sources`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// A byte range (plus line and column, 1-based) inside one manifest file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
    pub line: u32,
    pub column: u32,
}

thread_local! {
    /// Where the text being parsed starts in its file (byte offset, lines before it), when a
    /// file is parsed one document at a time: see [`Span::shifted`].
    static SHIFT: std::cell::Cell<(usize, u32)> = const { std::cell::Cell::new((0, 0)) };
}

impl Span {
    pub(crate) fn from_location(location: serde_saphyr::Location) -> Self {
        let span = location.span();
        let (offset, lines) = SHIFT.with(std::cell::Cell::get);
        let line = u32::try_from(location.line()).unwrap_or(0);
        Span {
            offset: usize::try_from(span.byte_offset().unwrap_or(0)).unwrap_or(0) + offset,
            len: usize::try_from(span.byte_len().unwrap_or(0)).unwrap_or(0),
            line: if line > 0 { line + lines } else { 0 },
            column: u32::try_from(location.column()).unwrap_or(0),
        }
    }

    /// Runs `parse` on a piece of a file that starts at byte `offset`, after `lines` lines:
    /// every span read meanwhile is a span in the whole file.
    pub(crate) fn shifted<R>(offset: usize, lines: u32, parse: impl FnOnce() -> R) -> R {
        let previous = SHIFT.with(|shift| shift.replace((offset, lines)));
        let result = parse();
        SHIFT.with(|shift| shift.set(previous));
        result
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(span: Span) -> Self {
        miette::SourceSpan::new(span.offset.into(), span.len)
    }
}

/// A place in the manifests: a file and a span inside it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Location {
    pub file: FileId,
    pub span: Span,
}

/// A value with the place in the YAML it was read from.
///
/// Equality, ordering and hashing look at the value only, so spanned strings can key maps.
#[derive(Clone, Debug)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}
impl<T: Eq> Eq for Spanned<T> {}
impl<T: PartialOrd> PartialOrd for Spanned<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.value.partial_cmp(&other.value)
    }
}
impl<T: Ord> Ord for Spanned<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}
impl<T: std::hash::Hash> std::hash::Hash for Spanned<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.value.hash(state);
    }
}
impl<T: fmt::Display> fmt::Display for Spanned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}
impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<T>::deserialize(deserializer)?;
        Ok(Spanned { value: spanned.value, span: Span::from_location(spanned.referenced) })
    }
}

impl<T: JsonSchema> JsonSchema for Spanned<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

/// One manifest file as read from disk.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as the user would write it (relative to the working directory when possible).
    pub name: String,
    pub path: PathBuf,
    pub text: Arc<str>,
    /// The text that diagnostics show: `text` with every secret value masked, made on first use
    /// (a run without diagnostics never pays for it).
    shown: OnceLock<Arc<str>>,
    /// The length in bytes of the file's longest line, found on first use.
    longest_line: OnceLock<usize>,
}

impl SourceFile {
    /// Returns a source file; its secret values are masked when it is first shown.
    pub fn new(name: String, path: PathBuf, text: Arc<str>) -> Self {
        SourceFile { name, path, text, shown: OnceLock::new(), longest_line: OnceLock::new() }
    }

    /// The text to show in a diagnostic: the file's text with the whole extent of every secret
    /// value (`spec.value`) replaced by `*`, same length and line breaks, so every span holds.
    pub fn shown_text(&self) -> &Arc<str> {
        self.shown.get_or_init(|| match super::mask::mask_secret_values(&self.text) {
            Some(masked) => Arc::from(masked),
            None => Arc::clone(&self.text),
        })
    }
}

impl SourceFile {
    /// The length in bytes of the longest line: diagnostics clip long lines.
    pub fn longest_line(&self) -> usize {
        *self.longest_line.get_or_init(|| self.text.split('\n').map(str::len).max().unwrap_or(0))
    }
}

/// Every manifest file of a run, indexed by [`FileId`].
#[derive(Debug, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    pub fn add(&mut self, file: SourceFile) -> FileId {
        let id = FileId(u32::try_from(self.files.len()).expect("fewer than 4 billion files"));
        self.files.push(file);
        id
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The name, the text to show (secrets masked) and the longest line's length of a file,
    /// for diagnostics.
    pub fn shown(&self, id: FileId) -> (&str, &Arc<str>, usize) {
        let file = self.get(id);
        (&file.name, file.shown_text(), file.longest_line())
    }

    /// Whether a location starts inside a masked secret value.
    pub fn is_masked(&self, location: Location) -> bool {
        let Some(file) = self.files.get(location.file.0 as usize) else { return false };
        let offset = location.span.offset;
        let shown = file.shown_text().as_bytes().get(offset);
        shown == Some(&b'*') && file.text.as_bytes().get(offset) != Some(&b'*')
    }

    /// The file name and line of a location, for plan JSON's `source`.
    pub fn file_line(&self, location: Location) -> (String, u32) {
        (self.get(location.file).name.clone(), location.span.line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_text_masks_secret_values_but_keeps_offsets_and_layout() {
        let text =
            "kind: Secret\nspec:\n  value: |\n    pässword 1\n    second line\n  publish: []\n";
        let mut sources = Sources::default();
        let file = sources.add(SourceFile::new(
            "secret.yaml".to_owned(),
            PathBuf::from("secret.yaml"),
            Arc::from(text),
        ));
        let (_, shown, _) = sources.shown(file);
        assert_eq!(
            &**shown,
            "kind: Secret\nspec:\n  value: *\n    ***********\n    ***********\n  publish: []\n"
        );
        assert_eq!(shown.len(), text.len());
    }
}
