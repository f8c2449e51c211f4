//! The inspector page: `GET /` and its script and style under `/ui/`, embedded in the
//! binary (the files in `ui/` beside this one, plain HTML, CSS and JavaScript: nothing is
//! built or fetched at run time). The page links its assets under names holding a digest
//! of their content, cached for a year as immutable; the page itself and the plain names
//! are revalidated with their `ETag`. These routes are on the admin side but need no
//! token (see [`AdminAuth::guards`](super::admin::AdminAuth::guards)): the page holds no
//! data, and asks for the token when the API answers 401.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// Where the page is served, and where its assets are.
pub const PAGE: &str = "/";
pub const ASSETS: &str = "/ui/{file}";

const INDEX: &str = include_str!("ui/index.html");
const SCRIPT: &str = include_str!("ui/app.js");
const STYLE: &str = include_str!("ui/app.css");

/// What the browser may load and send: this origin only, nothing inline. Bodies of events
/// are untrusted text, shown as text; this keeps anything they hold from running.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// One embedded file, with its validator and its digest-named alias.
struct Asset {
    content_type: &'static str,
    body: String,
    etag: HeaderValue,
    /// `app.0123456789.js`: the name the page links.
    hashed_name: String,
}

impl Asset {
    fn new(name: &str, content_type: &'static str, body: String) -> Self {
        let digest = hex(&Sha256::digest(body.as_bytes())[..5]);
        let hashed_name = match name.rsplit_once('.') {
            Some((stem, ext)) => format!("{stem}.{digest}.{ext}"),
            None => format!("{name}.{digest}"),
        };
        Self {
            content_type,
            etag: HeaderValue::from_str(&format!("\"{digest}\"")).expect("hex is a header value"),
            body,
            hashed_name,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The page and its assets, with digests computed once.
struct Site {
    index: Asset,
    script: Asset,
    style: Asset,
}

static SITE: LazyLock<Site> = LazyLock::new(|| {
    let script = Asset::new("app.js", "text/javascript; charset=utf-8", SCRIPT.into());
    let style = Asset::new("app.css", "text/css; charset=utf-8", STYLE.into());
    let index = INDEX
        .replace("/ui/app.js", &format!("/ui/{}", script.hashed_name))
        .replace("/ui/app.css", &format!("/ui/{}", style.hashed_name));
    Site {
        index: Asset::new("index.html", "text/html; charset=utf-8", index),
        script,
        style,
    }
});

/// The names the page links its assets by (for tests and benchmarks).
pub fn asset_names() -> [&'static str; 2] {
    [&SITE.script.hashed_name, &SITE.style.hashed_name]
}

/// `GET /`: the page.
pub async fn page(headers: HeaderMap) -> Response {
    let mut response = answer(&SITE.index, &headers, "no-cache");
    let set = response.headers_mut();
    set.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    set.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `GET /ui/{file}`: the script or the style, by plain or digest name.
pub async fn asset(
    file: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path(file) = file?;
    let site = &*SITE;
    let (asset, cache) = match file.as_str() {
        "app.js" => (&site.script, "no-cache"),
        "app.css" => (&site.style, "no-cache"),
        name if name == site.script.hashed_name => (&site.script, IMMUTABLE),
        name if name == site.style.hashed_name => (&site.style, IMMUTABLE),
        _ => {
            return Err(ApiError::NotFound(format!(
                "no file {file:?} in the inspector page"
            )));
        }
    };
    Ok(answer(asset, &headers, cache))
}

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `asset`, or `304` when the request's `If-None-Match` names its tag.
fn answer(asset: &Asset, request: &HeaderMap, cache: &'static str) -> Response {
    let current = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag.as_bytes() == asset.etag.as_bytes());
    let mut response = if current {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.body.clone().into_response()
    };
    let set = response.headers_mut();
    if !current {
        set.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
    }
    set.insert(header::ETAG, asset.etag.clone());
    set.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    set.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_links_its_assets_by_digest_and_nothing_outside() {
        let index = &SITE.index.body;
        for name in asset_names() {
            assert!(index.contains(&format!("/ui/{name}")), "{name} in {index}");
        }
        for text in [index.as_str(), SCRIPT, STYLE] {
            assert!(!text.contains("http://") && !text.contains("https://"));
            assert!(!text.contains("@import") && !text.contains("url("));
        }
    }

    #[test]
    fn a_tag_given_back_is_not_sent_again() {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, SITE.script.etag.clone());
        let response = answer(&SITE.script, &headers, IMMUTABLE);
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        let response = answer(&SITE.script, &HeaderMap::new(), IMMUTABLE);
        assert_eq!(response.status(), StatusCode::OK);
    }
}
