//! The widget's static files, compiled in, each with a strong ETag computed
//! once from its bytes.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};

/// One static file of the widget.
pub struct Asset {
    /// The file name under `/embed/assets/` (or `embed.js`).
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
    /// A quoted strong entity tag of the body.
    pub etag: String,
    /// Sixteen hex digits of the body's hash, for cache-busting query strings.
    pub version: String,
}

impl Asset {
    fn new(name: &'static str, content_type: &'static str, body: &'static [u8]) -> Asset {
        let digest = Sha256::digest(body);
        let version: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Asset {
            name,
            content_type,
            body,
            etag: format!("\"{version}\""),
            version,
        }
    }

    /// True when an `If-None-Match` header value names this asset's tag
    /// (weak comparison, as RFC 9110 asks for `If-None-Match`).
    pub fn matches(&self, if_none_match: &str) -> bool {
        if_none_match
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == self.etag)
    }
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    vec![
        Asset::new(
            "embed.js",
            JS,
            include_bytes!("../../assets/embed/embed.js"),
        ),
        Asset::new("page.js", JS, include_bytes!("../../assets/embed/page.js")),
        Asset::new(
            "page.css",
            CSS,
            include_bytes!("../../assets/embed/page.css"),
        ),
    ]
});

/// The asset with this file name.
pub fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

#[cfg(test)]
mod tests {
    use super::asset;

    #[test]
    fn every_asset_has_a_quoted_tag_that_if_none_match_recognises() {
        for name in ["embed.js", "page.js", "page.css"] {
            let a = asset(name).unwrap();
            assert!(a.etag.starts_with('"') && a.etag.ends_with('"'));
            assert!(a.matches(&a.etag));
            assert!(a.matches(&format!("\"other\", W/{}", a.etag)));
            assert!(a.matches("*"));
            assert!(!a.matches("\"other\""));
        }
        assert!(asset("../Cargo.toml").is_none());
    }
}
