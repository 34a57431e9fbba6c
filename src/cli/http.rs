//! `--platform http(s)://HOST[:PORT]`: the DataSphere v2 HTTP platform's token and options.

use crate::platform::{Platform, http::HttpPlatform};

/// Opens the HTTP platform at `url` with the token from `SPHERECTL_TOKEN` (or `YC_IAM_TOKEN`).
///
/// # Errors
/// A message when no token is set or the URL is not `http(s)://HOST[:PORT]`.
pub(super) fn open(url: &str, actor: &str) -> Result<Box<dyn Platform>, String> {
    let token = ["SPHERECTL_TOKEN", "YC_IAM_TOKEN"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|token| !token.trim().is_empty()));
    let Some(token) = token else {
        return Err(format!(
            "platform `{url}` needs a token: set `SPHERECTL_TOKEN` (or `YC_IAM_TOKEN`), such as `export SPHERECTL_TOKEN=$(yc iam create-token)`"
        ));
    };
    HttpPlatform::connect(url, token, actor)
        .map(|platform| Box::new(platform) as Box<dyn Platform>)
        .map_err(|error| error.message)
}
