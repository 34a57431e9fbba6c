//! The route table of `spherectl serve`: every method and path it answers, in matching order.
//!
//! The dispatcher matches requests against this table and nothing else, and a test checks it
//! against `schemas/openapi.yaml`, so the document cannot fall behind the server. A `{name}`
//! segment matches one path segment without a `:`; `{name}:verb` matches a segment that ends in
//! `:verb` (the public API's custom methods, such as `{projectId}:unitBalance`).

/// `(method, path)` of every endpoint, literal paths before patterns that would also match them.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/datasphere/v2/communities"),
    ("POST", "/datasphere/v2/communities"),
    ("GET", "/datasphere/v2/communities/{communityId}"),
    ("PATCH", "/datasphere/v2/communities/{communityId}"),
    ("DELETE", "/datasphere/v2/communities/{communityId}"),
    ("GET", "/datasphere/v2/communities/{communityId}:accessBindings"),
    ("POST", "/datasphere/v2/communities/{communityId}:setAccessBindings"),
    ("PATCH", "/datasphere/v2/communities/{communityId}:updateAccessBindings"),
    ("POST", "/datasphere/v2/communities/{resourceId}:addResource"),
    ("POST", "/datasphere/v2/communities/{resourceId}:removeResource"),
    ("GET", "/datasphere/v2/projects"),
    ("POST", "/datasphere/v2/projects"),
    ("GET", "/datasphere/v2/projects/{projectId}"),
    ("PATCH", "/datasphere/v2/projects/{projectId}"),
    ("DELETE", "/datasphere/v2/projects/{projectId}"),
    ("GET", "/datasphere/v2/projects/{projectId}:accessBindings"),
    ("POST", "/datasphere/v2/projects/{projectId}:setAccessBindings"),
    ("PATCH", "/datasphere/v2/projects/{projectId}:updateAccessBindings"),
    ("POST", "/datasphere/v2/projects/{resourceId}:addResource"),
    ("POST", "/datasphere/v2/projects/{resourceId}:removeResource"),
    ("GET", "/datasphere/v2/projects/{projectId}:unitBalance"),
    ("POST", "/datasphere/v2/projects/{projectId}:unitBalance"),
    ("POST", "/datasphere/v2/dataset/activate"),
    ("POST", "/datasphere/v2/dataset/deactivate"),
    ("POST", "/datasphere/v2/s3/activate"),
    ("POST", "/datasphere/v2/s3/deactivate"),
    ("POST", "/datasphere/v2/docker/activate"),
    ("GET", "/operations/{operationId}"),
    ("GET", "/datasphere/v2/spherectl/organizations/{organizationId}"),
    ("GET", "/datasphere/v2/spherectl/organizations/{organizationId}:accessBindings"),
    ("POST", "/datasphere/v2/spherectl/organizations/{organizationId}:setSharingRule"),
    ("POST", "/datasphere/v2/spherectl/organizations/{organizationId}:acquireLock"),
    ("POST", "/datasphere/v2/spherectl/organizations/{organizationId}:renewLock"),
    ("POST", "/datasphere/v2/spherectl/organizations/{organizationId}:releaseLock"),
    ("GET", "/datasphere/v2/spherectl/capabilities"),
    ("GET", "/datasphere/v2/spherectl/resources"),
    ("GET", "/datasphere/v2/spherectl/publications"),
    ("GET", "/datasphere/v2/spherectl/uses"),
    ("POST", "/datasphere/v2/spherectl/secrets:digest"),
    ("POST", "/datasphere/v2/spherectl/docker/deactivate"),
    ("GET", "/datasphere/v2/spherectl/{collection}"),
    ("POST", "/datasphere/v2/spherectl/{collection}"),
    ("GET", "/datasphere/v2/spherectl/{collection}/{resourceId}"),
    ("PATCH", "/datasphere/v2/spherectl/{collection}/{resourceId}"),
    ("DELETE", "/datasphere/v2/spherectl/{collection}/{resourceId}"),
];

/// A matched route: its pattern and the values of its `{name}` segments, in order.
#[derive(Debug)]
pub struct Matched {
    pub pattern: &'static str,
    pub params: Vec<String>,
}

/// Matches a method and path (a trailing slash ignored) against [`ROUTES`]; `Err(true)` when
/// the path exists for another method.
pub fn find(method: &str, path: &str) -> Result<Matched, bool> {
    let path = if path.len() > 1 { path.trim_end_matches('/') } else { path };
    let mut other_method = false;
    for (route_method, pattern) in ROUTES {
        let Some(params) = match_path(pattern, path) else { continue };
        if *route_method == method {
            return Ok(Matched { pattern, params });
        }
        other_method = true;
    }
    Err(other_method)
}

fn match_path(pattern: &str, path: &str) -> Option<Vec<String>> {
    let patterns: Vec<&str> = pattern.split('/').collect();
    let segments: Vec<&str> = path.split('/').collect();
    if patterns.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (expected, segment) in patterns.iter().zip(&segments) {
        let segment = percent_decode(segment);
        if let Some(rest) = expected.strip_prefix('{') {
            let (_, verb) = rest.split_once('}')?;
            let value = match verb.strip_prefix(':') {
                Some(verb) => segment.strip_suffix(&format!(":{verb}"))?.to_owned(),
                None => segment.clone(),
            };
            if value.is_empty() || value.contains(':') {
                return None;
            }
            params.push(value);
        } else if *expected != segment {
            return None;
        }
    }
    Some(params)
}

/// Decodes `%XX` escapes (and `+` in query values is left to the caller).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
            && let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_methods_and_trailing_slashes_match() {
        let matched = find("GET", "/datasphere/v2/projects/p1:unitBalance").ok().unwrap();
        assert_eq!(matched.pattern, "/datasphere/v2/projects/{projectId}:unitBalance");
        assert_eq!(matched.params, ["p1"]);
        let matched = find("POST", "/datasphere/v2/communities/").ok().unwrap();
        assert_eq!(matched.pattern, "/datasphere/v2/communities");
        let matched = find("POST", "/datasphere/v2/spherectl/secrets:digest").ok().unwrap();
        assert_eq!(matched.pattern, "/datasphere/v2/spherectl/secrets:digest");
        assert!(find("PUT", "/datasphere/v2/projects/p1").unwrap_err());
        assert!(!find("GET", "/nowhere").unwrap_err());
        assert_eq!(percent_decode("a%3Ab"), "a:b");
    }

    /// `schemas/openapi.yaml` describes exactly the routes the server answers.
    #[test]
    fn the_openapi_document_matches_the_route_table() {
        let document = include_str!("../../schemas/openapi.yaml");
        let mut documented = Vec::new();
        let mut path = None;
        let mut in_paths = false;
        for line in document.lines() {
            if !line.starts_with(' ') {
                in_paths = line == "paths:";
                continue;
            }
            if !in_paths {
                continue;
            }
            if let Some(key) = line.strip_prefix("  \"").and_then(|l| l.strip_suffix("\":")) {
                path = Some(key.to_owned());
            } else if let Some(method) = line.strip_prefix("    ").and_then(|l| l.strip_suffix(':'))
                && !method.starts_with(' ')
                && let Some(path) = &path
            {
                documented.push((method.to_uppercase(), path.clone()));
            }
        }
        let mut routes: Vec<(String, String)> =
            ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
        routes.sort();
        documented.sort();
        assert_eq!(documented, routes);
    }
}
