//! Source positions: every value read from YAML keeps where it came from, so that every
//! diagnostic can point into the user's file.

use std::{fmt, path::PathBuf, sync::Arc};

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

impl Span {
    pub(crate) fn from_location(location: serde_saphyr::Location) -> Self {
        let span = location.span();
        Span {
            offset: usize::try_from(span.byte_offset().unwrap_or(0)).unwrap_or(0),
            len: usize::try_from(span.byte_len().unwrap_or(0)).unwrap_or(0),
            line: u32::try_from(location.line()).unwrap_or(0),
            column: u32::try_from(location.column()).unwrap_or(0),
        }
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

    pub fn named_source(&self, id: FileId) -> miette::NamedSource<Arc<str>> {
        let file = self.get(id);
        miette::NamedSource::new(&file.name, Arc::clone(&file.text)).with_language("yaml")
    }

    /// Masks the text at a location, keeping its length and line breaks (so that every other
    /// span stays valid): for secret values written into a manifest, which no rendering may show.
    pub fn redact(&mut self, location: Location) {
        let Some(file) = self.files.get_mut(location.file.0 as usize) else { return };
        let text = &file.text;
        let start = location.span.offset.min(text.len());
        let end = start.saturating_add(location.span.len).min(text.len());
        if !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            return;
        }
        // A block scalar's span runs on to the next key's indentation: leave that alone.
        let end = start + text[start..end].trim_end().len();
        let mut masked = String::with_capacity(text.len());
        masked.push_str(&text[..start]);
        // Line breaks and the indentation after them are the YAML's, not the secret's.
        let mut indentation = false;
        for c in text[start..end].chars() {
            if matches!(c, '\n' | '\r') || (indentation && matches!(c, ' ' | '\t')) {
                indentation = true;
                masked.push(c);
            } else {
                indentation = false;
                masked.extend(std::iter::repeat_n('*', c.len_utf8()));
            }
        }
        masked.push_str(&text[end..]);
        file.text = Arc::from(masked);
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
    fn redact_masks_a_block_scalar_but_keeps_offsets_and_layout() {
        let text = "value: |\n  pässword 1\n  second line\nnext: 1\n";
        let mut sources = Sources::default();
        let file = sources.add(SourceFile {
            name: "secret.yaml".to_owned(),
            path: PathBuf::from("secret.yaml"),
            text: Arc::from(text),
        });
        let offset = text.find("pässword").expect("the secret is in the text");
        let len = text.find("next").expect("the next key is in the text") - offset;
        sources.redact(Location { file, span: Span { offset, len, line: 2, column: 3 } });
        let masked = &sources.get(file).text;
        assert_eq!(&**masked, "value: |\n  ***********\n  ***********\nnext: 1\n");
        assert_eq!(masked.len(), text.len());
    }
}
