//! The HTML of the embed pages and their error pages, and their policy.

use super::assets::asset;
use crate::services::embed::Page;

pub use crate::html::escape as escape_html;

/// The pages' Content-Security-Policy. `frame_ancestors` is the operator's
/// setting (`*` by default); a token that could end the directive or start
/// another is dropped, and nothing left means no site may frame the pages.
pub fn content_security_policy(frame_ancestors: &str) -> String {
    let sources: Vec<&str> = frame_ancestors
        .split_whitespace()
        .filter(|t| !t.contains([';', ',']) && t.chars().all(|c| c.is_ascii_graphic()))
        .collect();
    let ancestors = if sources.is_empty() {
        "'none'".to_string()
    } else {
        sources.join(" ")
    };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
         img-src 'self' data:; frame-ancestors {ancestors}; base-uri 'none'; form-action 'none'"
    )
}

fn asset_url(name: &str) -> String {
    let version = asset(name).map(|a| a.version.as_str()).unwrap_or("0");
    format!("/embed/assets/{name}?v={version}")
}

/// A whole document; `scripted` pages load `page.js`, error pages run nothing.
fn document(title: &str, body: &str, scripted: bool) -> String {
    let script = if scripted {
        format!("<script src=\"{}\" defer></script>\n", asset_url("page.js"))
    } else {
        String::new()
    };
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <title>{title}</title>\n\
         <link rel=\"stylesheet\" href=\"{css}\">\n\
         {script}</head>\n<body>\n{body}\n</body>\n</html>\n",
        title = escape_html(title),
        css = asset_url("page.css"),
    )
}

/// An embed page: a shell that `page.js` fills in.
pub fn render_page(page: &Page) -> String {
    let body = format!(
        "<div class=\"tg-app\" id=\"tg-app\" data-kind=\"{kind}\" data-config=\"{config}\">\n\
         <header class=\"tg-header\">\n\
         <div class=\"tg-heading\"><h1 class=\"tg-title\" id=\"tg-title\">{title}</h1>\n\
         <p class=\"tg-subtitle\" id=\"tg-subtitle\">{subtitle}</p></div>\n\
         <div class=\"tg-account\"><span class=\"tg-balance\" id=\"tg-balance\" hidden></span>\n\
         <button type=\"button\" class=\"tg-link\" id=\"tg-signout\" hidden>Sign out</button></div>\n\
         </header>\n\
         <main class=\"tg-main\" id=\"tg-main\">\n\
         <p class=\"tg-loading\" id=\"tg-loading\">Loading…</p>\n\
         <noscript><p class=\"tg-error\">This widget needs JavaScript.</p></noscript>\n\
         </main>\n\
         <footer class=\"tg-footer\">Payments by Tollgate: you pay with your own account's credits.</footer>\n\
         </div>",
        kind = page.kind,
        config = escape_html(&page.config.to_string()),
        title = escape_html(&page.title),
        subtitle = escape_html(&page.subtitle),
    );
    document(&page.title, &body, true)
}

/// An error page (400, 404) in the widget's style, with no script to run.
pub fn render_error(heading: &str, message: &str) -> String {
    let body = format!(
        "<div class=\"tg-app tg-error-page\">\n<main class=\"tg-main\">\n\
         <h1 class=\"tg-title\">{}</h1>\n<p>{}</p>\n</main>\n</div>",
        escape_html(heading),
        escape_html(message),
    );
    document(heading, &body, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escaping_covers_markup_and_both_quotes() {
        assert_eq!(
            escape_html("<img src=x onerror=\"alert('1')\"> & co"),
            "&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt; &amp; co"
        );
    }

    #[test]
    fn the_policy_keeps_sources_and_drops_directive_injection() {
        let csp = content_security_policy("https://a.example https://b.example");
        assert!(csp.contains("frame-ancestors https://a.example https://b.example;"));
        let csp = content_security_policy("*; script-src *");
        assert!(csp.contains("frame-ancestors script-src *;"), "{csp}");
        assert_eq!(csp.split(';').count(), 8, "no directive was added: {csp}");
        assert!(csp.starts_with("default-src 'none'; script-src 'self';"));
        assert!(content_security_policy(" ").contains("frame-ancestors 'none';"));
    }

    #[test]
    fn a_page_escapes_its_title_and_config_and_has_no_inline_script_or_style() {
        let hostile = "<img src=x onerror=alert(1)>";
        let html = render_page(&Page {
            kind: "workflow",
            title: hostile.into(),
            subtitle: "\"quoted\"".into(),
            config: json!({"name": hostile}),
        });
        assert!(!html.contains(hostile));
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<style"));
        assert!(!html.contains(" style="));
        let tags: Vec<String> = html
            .split('<')
            .skip(1)
            .map(|t| t.split('>').next().unwrap_or(""))
            .map(|t| {
                // Attribute values are data; only names could be handlers.
                t.split('"').step_by(2).collect::<String>()
            })
            .collect();
        assert!(
            tags.iter().all(|t| !t.contains(" on")),
            "no inline handlers"
        );
    }
}
