//! Raw documents → validated [`Model`], collecting every problem rather than stopping at the first.

mod builder;
mod identity;
mod kinds;
mod references;

use builder::Builder;
use identity::*;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::Path,
};

use serde_json::{Value, json};

use super::{
    model::{
        Address, Dependency, EdgeKind, ExternalUse, Field, Kind, Member, Model, Object,
        Organization, Publication, PublishTarget, SecretSource,
    },
    raw::{self, API_VERSION, RawDocument, RawMember, RawMetadata, RawSpec},
    span::{FileId, Location, Sources, Span, Spanned},
};
use crate::{
    diagnostics::Problem,
    fields,
    rules::{self, DEFAULT_ZONE, SharingRoles},
};

/// A raw document and the file it came from.
pub struct Document {
    pub file: FileId,
    pub raw: RawDocument,
}

struct Context<'a> {
    sources: &'a Sources,
    problems: Vec<Problem>,
}

impl Context<'_> {
    fn error(&mut self, problem: Problem) {
        self.problems.push(problem);
    }
}

fn loc(file: FileId, span: Span) -> Location {
    Location { file, span }
}

/// Where an object is declared, before its spec is read.
struct Declared<'a> {
    document: &'a Document,
    address: Address,
}

/// Turns raw documents into the model, or returns every problem found.
pub fn normalize(documents: &[Document], sources: &Sources) -> Result<Model, Vec<Problem>> {
    let mut cx = Context { sources, problems: Vec::new() };

    // Pass 1: kinds, api versions, addresses, the one Organization, duplicate names.
    let mut organizations = Vec::new();
    let mut declared: Vec<Declared<'_>> = Vec::new();
    let mut seen: HashMap<Address, Location> = HashMap::new();
    // Objects whose own name or address is invalid (already reported).
    let mut invalid: HashSet<Address> = HashSet::new();
    // Their documents, still checked on their own in pass 2 (the objects are left out).
    let mut misnamed: Vec<Declared<'_>> = Vec::new();
    for document in documents {
        let raw = &document.raw;
        let file = document.file;
        if raw.api_version.value != API_VERSION {
            cx.error(
                Problem::error(
                    "spherectl::manifest::api_version",
                    format!("unsupported apiVersion `{}`", raw.api_version.value),
                )
                .at(loc(file, raw.api_version.span), "not a version this release reads")
                .help(format!("use `apiVersion: {API_VERSION}`")),
            );
            continue;
        }
        let Some(kind) = Kind::parse(&raw.kind.value) else { continue };
        if kind == Kind::Organization {
            organizations.push(document);
            check_parent_fields(&mut cx, document, kind);
            continue;
        }
        let Some(address) = address_of(&mut cx, document, kind) else {
            // Reported once, here: objects under it or naming it are not reported again.
            if let Some(address) = intended_address(document, kind) {
                invalid.insert(address.clone());
                misnamed.push(Declared { document, address });
            }
            continue;
        };
        let here = loc(file, raw.metadata.name.span);
        if let Some(first) = seen.get(&address) {
            let parent = address.parent().map_or_else(String::new, |p| format!(" in `{p}`"));
            cx.error(
                Problem::error(
                    "spherectl::manifest::duplicate_name",
                    format!("duplicate {kind} `{}`{parent}", address.name()),
                )
                .at(here, "declared again here")
                .at(*first, "first declared here")
                .help("names are unique per kind within their parent; rename one of the two"),
            );
            continue;
        }
        seen.insert(address.clone(), here);
        declared.push(Declared { document, address });
    }

    let organization = match organizations.as_slice() {
        [] => {
            cx.error(no_organization(sources));
            None
        }
        [only] => organization_of(&mut cx, only),
        [first, rest @ ..] => {
            for other in rest {
                cx.error(
                    Problem::error(
                        "spherectl::manifest::multiple_organizations",
                        "more than one `Organization` document",
                    )
                    .at(loc(other.file, other.raw.kind.span), "another Organization here")
                    .at(loc(first.file, first.raw.kind.span), "the first one is here")
                    .help("a manifest set describes exactly one organization"),
                );
            }
            organization_of(&mut cx, first)
        }
    };

    // Community zones are needed to check publications; parents must exist.
    let mut zones: HashMap<String, String> = HashMap::new();
    let mut spec_of: HashMap<&Address, &RawSpec> = HashMap::new();
    for item in &declared {
        if let Some(spec) = &item.document.raw.spec {
            spec_of.insert(&item.address, spec);
        }
        if item.address.kind == Kind::Community {
            let zone = match &item.document.raw.spec {
                Some(RawSpec::Community(spec)) => spec.zone.as_ref().map(|z| z.value.clone()),
                _ => None,
            };
            zones
                .insert(item.address.path.clone(), zone.unwrap_or_else(|| DEFAULT_ZONE.to_owned()));
        }
    }

    // Builds one object; a document's own problems are reported whether or not it is kept.
    let build = |cx: &mut Context<'_>, item: &Declared<'_>| -> Object {
        let mut builder = Builder {
            cx,
            file: item.document.file,
            address: &item.address,
            seen: &seen,
            invalid: &invalid,
            zones: &zones,
            spec_of: &spec_of,
            object: empty_object(&item.address, item.document),
        };
        builder.build(item.document);
        builder.object
    };
    // Pass 2: build each object.
    let mut objects = Vec::with_capacity(declared.len());
    for item in &declared {
        if let Some(parent) = item.address.parent()
            && !seen.contains_key(&parent)
        {
            // The document's own problems are still reported; the object is left out.
            build(&mut cx, item);
            if is_under(&parent, &invalid) {
                continue;
            }
            let raw = &item.document.raw.metadata;
            let span = if parent.kind == Kind::Community { &raw.community } else { &raw.project };
            let span = span.as_ref().map_or(raw.name.span, |s| s.span);
            let hint = rules::nearest(
                &parent.path,
                seen.keys().filter(|a| a.kind == parent.kind).map(|a| a.path.as_str()),
            );
            cx.error(
                Problem::error(
                    "spherectl::manifest::unknown_parent",
                    format!("{} `{}` is not declared in these manifests", parent.kind, parent.path),
                )
                .at(
                    loc(item.document.file, span),
                    format!("no such {}", parent.kind.as_str().to_lowercase()),
                )
                .help(hint.map_or_else(
                    || format!("declare the {} or correct the name", parent.kind),
                    |h| format!("did you mean `{h}`?"),
                )),
            );
            continue;
        }
        objects.push(build(&mut cx, item));
    }
    for item in &misnamed {
        build(&mut cx, item);
    }
    check_active(&mut cx, &objects);

    let organization = organization.filter(|_| cx.problems.iter().all(|p| !p.is_error()));
    match organization {
        Some(organization) => {
            objects.sort_by(|a, b| a.address.cmp(&b.address));
            Ok(Model { organization, objects })
        }
        None => Err(cx.problems),
    }
}

fn publish_of(spec: &RawSpec) -> &raw::RawPublish {
    const NONE: &raw::RawPublish = &None;
    match spec {
        RawSpec::Dataset(s) => &s.publish,
        RawSpec::Secret(s) => &s.publish,
        RawSpec::DockerImage(s) => &s.publish,
        RawSpec::S3Connection(s) => &s.publish,
        RawSpec::Checkpoint(s) => &s.publish,
        RawSpec::Node(s) => &s.publish,
        RawSpec::Alias(s) => &s.publish,
        RawSpec::Organization(_) | RawSpec::Community(_) | RawSpec::Project(_) => NONE,
    }
}

pub use crate::rules::parse_duration;
