//! Manifest loading: find the YAML files, parse them (in parallel, each once), and normalize the
//! documents into a validated [`Model`].
//!
//! Takes paths; returns the model and the source texts (for diagnostics), or every problem found.
//! Reads files, nothing else: no platform, no network.

mod mask;
pub mod model;
pub mod normalize;
pub mod raw;
pub mod read;
pub mod span;
mod yaml_errors;

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};
use yaml_errors::*;

use crate::{diagnostics::Problem, rules};
pub use model::{Address, Kind, Model, Object};
use normalize::Document;
use raw::RawDocument;
use span::{FileId, Location, SourceFile, Sources, Span};

/// Files larger than this are refused before they are read.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// A manifest set, loaded and validated.
#[derive(Debug)]
pub struct Loaded {
    pub sources: Sources,
    pub model: Model,
    /// The directory of the first path given: where `.spherectl/` and `policies/` live.
    pub base_dir: PathBuf,
}

/// Loading failed: the problems, and the sources they point into.
#[derive(Debug)]
pub struct LoadFailure {
    pub sources: Sources,
    pub problems: Vec<Problem>,
}

/// Loads every `*.yaml` / `*.yml` under `paths` (recursively, skipping hidden directories).
///
/// # Errors
/// Returns every problem found: unreadable or invalid files, schema errors, broken rules.
pub fn load(paths: &[PathBuf]) -> Result<Loaded, LoadFailure> {
    let mut problems = Vec::new();
    let files = discover(paths, &mut problems);
    let base_dir = base_dir(paths);
    let mut sources = Sources::default();
    if files.is_empty() && problems.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        problems.push(
            Problem::error(
                "spherectl::manifest::no_manifests",
                format!("no manifest files (`*.yaml`, `*.yml`) found in {}", shown.join(", ")),
            )
            .help("point spherectl at the directory that holds your manifests, e.g. `spherectl validate examples/quickstart`"),
        );
    }
    let parsed = parse_all(&files);
    // Each file's documents and problems, kept apart until the secret files are known.
    let mut per_file = Vec::new();
    for (path, result) in files.iter().zip(parsed) {
        match result {
            Ok((text, raw_documents)) => {
                let id = sources.add(SourceFile::new(display_name(path), path.clone(), text));
                let documents = raw_documents.into_iter().map(|raw| Document { file: id, raw });
                per_file.push((path, documents.collect(), Vec::new(), false));
            }
            Err(FileError::Read(problem)) => per_file.push((path, Vec::new(), vec![problem], true)),
            Err(FileError::Parse { text, error }) => {
                let id = sources.add(SourceFile::new(
                    display_name(path),
                    path.clone(),
                    Arc::clone(&text),
                ));
                let (more, parsed) = document_problems(id, &text, &error);
                // The file's other documents are checked too: one broken document must not
                // hide their problems.
                let documents = parsed.into_iter().map(|raw| Document { file: id, raw });
                per_file.push((path, documents.collect(), more, true));
            }
        }
    }
    // A `fromFile` secret that is itself named `*.yaml` is a value, not a manifest: it is
    // neither read as documents nor shown in any diagnostic.
    let secret_files =
        secret_files(per_file.iter().flat_map(|(_, documents, ..)| documents), &sources);
    let mut documents = Vec::new();
    let mut unparsed = false;
    for (path, file_documents, file_problems, file_unparsed) in per_file {
        let declares_it = file_documents
            .iter()
            .any(|d: &Document| secret_files.iter().any(|(from, _)| *from == d.file));
        if !declares_it
            && !secret_files.is_empty()
            && canonical(path).is_some_and(|p| secret_files.iter().any(|(_, s)| *s == p))
        {
            continue;
        }
        documents.extend(file_documents);
        problems.extend(file_problems);
        unparsed |= file_unparsed;
    }
    if problems.iter().any(|p| {
        p.code == "spherectl::manifest::no_manifests" || p.code == "spherectl::manifest::io"
    }) {
        return Err(LoadFailure { sources, problems });
    }
    match normalize::normalize(&documents, &sources) {
        Ok(model) if problems.is_empty() => Ok(Loaded { sources, model, base_dir }),
        Ok(_) => Err(LoadFailure { sources, problems }),
        Err(more) => {
            // Documents that failed to parse may be the targets of references elsewhere: only
            // report the problems that cannot be caused by a missing document.
            problems.extend(
                more.into_iter()
                    .filter(|p| !unparsed || !MAYBE_CAUSED_BY_MISSING.contains(&p.code)),
            );
            Err(LoadFailure { sources, problems })
        }
    }
}

/// The canonical paths of the `fromFile` secrets that the documents name, each with the file
/// that names it.
fn secret_files<'a>(
    documents: impl Iterator<Item = &'a Document>,
    sources: &Sources,
) -> Vec<(FileId, PathBuf)> {
    let mut found = Vec::new();
    for document in documents {
        let Some(raw::RawSpec::Secret(spec)) = &document.raw.spec else { continue };
        let raw::RawSecretValue::FromFile(path) = &spec.value.value else { continue };
        let base = sources.get(document.file).path.parent().map(Path::to_path_buf);
        if let Some(target) = canonical(&base.unwrap_or_default().join(&path.value)) {
            found.push((document.file, target));
        }
    }
    found
}

fn canonical(path: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(path).ok()
}

/// Problems that a document which failed to read or parse may cause elsewhere.
const MAYBE_CAUSED_BY_MISSING: &[&str] = &[
    "spherectl::manifest::no_organization",
    "spherectl::manifest::dangling_reference",
    "spherectl::manifest::unknown_parent",
    "spherectl::manifest::wrong_kind_reference",
    "spherectl::rules::use_unpublished",
    "spherectl::rules::unpinned_checkpoint",
];

/// After a file failed to parse as a whole: parses each document alone, to report every
/// document's first problem, not just the file's, and to keep the documents that parse.
fn document_problems(
    file: FileId,
    text: &str,
    first: &serde_saphyr::Error,
) -> (Vec<Problem>, Vec<RawDocument>) {
    // A document the schema rejects early may still be a bomb: say so, since that is the
    // problem to fix. The check scans events only (no values) and stops at the first breach.
    if !matches!(innermost(first), serde_saphyr::Error::Budget { .. })
        && let Some(problem) = budget_problem(file, text)
    {
        return (vec![problem], Vec::new());
    }
    let chunks = split_documents(text);
    // A breached budget means hostile or oversized input: reading it again would only repeat
    // the work the budget is there to stop.
    if chunks.len() <= 1 || matches!(innermost(first), serde_saphyr::Error::Budget { .. }) {
        return (vec![yaml_problem(file, text, first)], Vec::new());
    }
    let mut problems = Vec::new();
    let mut documents = Vec::new();
    for (offset, line, chunk) in chunks {
        let parsed = Span::shifted(offset, line - 1, || {
            serde_saphyr::from_multiple_with_options::<RawDocument>(chunk, parse_options())
        });
        match parsed {
            Ok(parsed) => documents.extend(parsed),
            Err(error) => {
                let mut problem = yaml_problem(file, chunk, &error);
                for label in &mut problem.labels {
                    label.location.span.offset += offset;
                    label.location.span.line += line - 1;
                }
                problems.push(problem);
            }
        }
    }
    if problems.is_empty() {
        problems.push(yaml_problem(file, text, first));
    }
    (problems, documents)
}

/// Splits YAML text at document markers (`---` at the start of a line), returning each
/// document's byte offset, 1-based first line, and text. A column-0 `---` always starts a new
/// document in YAML: block scalars are indented and quoted scalars cannot contain one.
fn split_documents(text: &str) -> Vec<(usize, u32, &str)> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (line, raw_line) in (1..).zip(text.split_inclusive('\n')) {
        let trimmed = raw_line.trim_end_matches(['\n', '\r']);
        let is_marker =
            trimmed == "---" || trimmed.starts_with("--- ") || trimmed.starts_with("---\t");
        if is_marker && offset > start {
            chunks.push((start, start_line, &text[start..offset]));
            start = offset;
            start_line = line;
        }
        offset += raw_line.len();
    }
    if start < text.len() {
        chunks.push((start, start_line, &text[start..]));
    }
    chunks
}

fn base_dir(paths: &[PathBuf]) -> PathBuf {
    match paths.first() {
        Some(path) if path.is_dir() => path.clone(),
        Some(path) => path.parent().map(Path::to_path_buf).unwrap_or_default(),
        None => PathBuf::from("."),
    }
}

fn display_name(path: &Path) -> String {
    let text = path.display().to_string();
    text.strip_prefix("./").map(str::to_owned).unwrap_or(text)
}

/// Finds manifest files, in a stable order (sorted per directory, paths in the order given).
fn discover(paths: &[PathBuf], problems: &mut Vec<Problem>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk(path, &mut files, problems),
            Ok(_) => files.push(path.clone()),
            Err(error) => problems.push(
                Problem::error(
                    "spherectl::manifest::io",
                    format!("cannot read `{}`: {error}", path.display()),
                )
                .help("check the path"),
            ),
        }
    }
    // A file reached twice (a directory and a file in it, `./a.yaml` and `a.yaml`, a link to
    // a file of the set) is read once: it would otherwise duplicate every name it declares.
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(canonical(f).unwrap_or_else(|| f.clone())));
    files
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, problems: &mut Vec<Problem>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            problems.push(Problem::error(
                "spherectl::manifest::io",
                format!("cannot read directory `{}`: {error}", dir.display()),
            ));
            return;
        }
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            if !name.starts_with('.') {
                walk(&path, files, problems);
            }
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            files.push(path);
        }
    }
}

enum FileError {
    Read(Problem),
    Parse { text: Arc<str>, error: Box<serde_saphyr::Error> },
}

type Parsed = Result<(Arc<str>, Vec<RawDocument>), FileError>;

/// Reads and parses files on all cores; each file is read and parsed exactly once.
fn parse_all(files: &[PathBuf]) -> Vec<Parsed> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(files.len().max(1));
    let results: Vec<Mutex<Option<Parsed>>> = files.iter().map(|_| Mutex::new(None)).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(path) = files.get(index) else { break };
                    let parsed = parse_file(path);
                    *results[index].lock().expect("no thread panics while holding this lock") =
                        Some(parsed);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner().ok().flatten().unwrap_or_else(|| {
                Err(FileError::Read(Problem::error(
                    "spherectl::manifest::io",
                    "internal error: file not parsed",
                )))
            })
        })
        .collect()
}

fn parse_file(path: &Path) -> Parsed {
    let name = display_name(path);
    let read_error = |message: String| {
        FileError::Read(Problem::error("spherectl::manifest::io", message).in_file(name.clone()))
    };
    let bytes = match read::read_regular_file(path, MAX_FILE_BYTES) {
        Ok(bytes) => bytes,
        Err(read::ReadError::TooLarge(size)) => {
            let size = size.map_or_else(|| "more than that".to_owned(), |s| format!("{s} bytes"));
            return Err(FileError::Read(
                Problem::error(
                    "spherectl::manifest::too_large",
                    format!(
                        "file is {size}, more than the {} MiB ({MAX_FILE_BYTES} bytes) a \
                         manifest file may be",
                        MAX_FILE_BYTES / (1024 * 1024)
                    ),
                )
                .in_file(name)
                .help("split the manifests into several files"),
            ));
        }
        Err(error @ read::ReadError::NotRegular(_)) => {
            return Err(FileError::Read(
                Problem::error("spherectl::manifest::not_a_file", error.to_string())
                    .in_file(name)
                    .help("manifests are read from regular files only; remove or rename it"),
            ));
        }
        Err(error) => return Err(read_error(format!("cannot read file: {error}"))),
    };
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let valid = error.utf8_error().valid_up_to();
            let bytes = error.as_bytes();
            let line = bytes[..valid].iter().filter(|b| **b == b'\n').count() + 1;
            return Err(FileError::Read(
                Problem::error(
                    "spherectl::manifest::not_utf8",
                    format!("file is not valid UTF-8 (first bad byte at line {line}, byte offset {valid})"),
                )
                .in_file(name)
                .help("manifests must be UTF-8 text; re-save the file as UTF-8"),
            ));
        }
    };
    let text: Arc<str> = Arc::from(text);
    match serde_saphyr::from_multiple_with_options::<RawDocument>(&text, parse_options()) {
        Ok(documents) => Ok((text, documents)),
        Err(error) => Err(FileError::Parse { text, error: Box::new(error) }),
    }
}

/// The parser's options: budgets on (against alias bombs and oversized input), no snippets
/// (we render our own), duplicate keys rejected.
fn parse_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    let mut budget = serde_saphyr::Budget::default();
    // A 16 MiB file of flat manifests stays far below these; a bomb breaches them at once.
    budget.max_depth = 64;
    budget.max_documents = 20_000;
    budget.max_nodes = 2_000_000;
    budget.max_events = 4_000_000;
    // Events copied while expanding aliases inside anchors: legitimate reuse (a shared label
    // set, a members list) copies a handful; the merge-key bomb copies millions, and stopping
    // it at 100k keeps the rejection well under a second even in a debug build.
    budget.max_recorded_anchor_events = 100_000;
    options.budget = Some(budget);
    options
}

const BUDGET_HELP: &str = "this looks like an alias-expansion bomb, an oversized file or input nested too deeply; manifests need none of these";
