//! Markdown: safe HTML rendering, plain-text extraction and document outlines.

use std::collections::HashMap;

use async_trait::async_trait;
use pulldown_cmark::{CodeBlockKind, CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use serde_json::{json, Value};

use crate::money::Credits;
use crate::tools::{ActionSpec, BuiltinSpec, BuiltinTool, ToolContext, ToolError};

/// Largest Markdown accepted, in characters.
const MAX_MARKDOWN_CHARS: usize = 1_000_000;
/// Most headings, links, images or code blocks listed by `outline`.
const MAX_OUTLINE_ITEMS: usize = 5_000;

/// Renders and analyses Markdown.
pub struct Tool;

fn markdown_params(description: &str) -> Value {
    json!({
        "type": "object",
        "properties": {
            "markdown": {"type": "string", "maxLength": MAX_MARKDOWN_CHARS, "description": description}
        },
        "required": ["markdown"],
        "additionalProperties": false
    })
}

#[async_trait]
impl BuiltinTool for Tool {
    fn spec(&self) -> BuiltinSpec {
        BuiltinSpec {
            slug: "markdown",
            name: "markdown",
            display_name: "Markdown",
            description: "Renders Markdown (CommonMark with tables, task lists, strikethrough and footnotes) \
                to safe HTML, strips it to plain text, or outlines it: headings with levels and anchors, \
                links, images and code blocks.",
            category: "text",
            actions: vec![
                ActionSpec {
                    name: "to_html",
                    description: "Render Markdown to HTML. Raw HTML in the input is shown as text, never \
                        passed through, and javascript:/data: links are neutralised, so the output is safe to embed.",
                    parameters: markdown_params("The Markdown to render."),
                    price_credits: Credits::new(1),
                },
                ActionSpec {
                    name: "to_text",
                    description: "Strip Markdown formatting and return the plain text, keeping paragraph and \
                        list structure as line breaks.",
                    parameters: markdown_params("The Markdown to convert."),
                    price_credits: Credits::new(1),
                },
                ActionSpec {
                    name: "outline",
                    description: "List the document's headings (level, text, anchor), links (text, url), \
                        images (alt, url) and code blocks (language, line count), with a word count.",
                    parameters: markdown_params("The Markdown to outline."),
                    price_credits: Credits::new(1),
                },
            ],
        }
    }

    async fn call(
        &self,
        action: &str,
        params: &Value,
        _ctx: &ToolContext,
    ) -> Result<Value, ToolError> {
        let render = match action {
            "to_html" => to_html,
            "to_text" => to_text,
            "outline" => outline,
            other => {
                return Err(ToolError::invalid(
                    "action",
                    format!("unknown action \"{other}\""),
                ))
            }
        };
        let markdown = params
            .get("markdown")
            .and_then(Value::as_str)
            .ok_or_else(|| ToolError::invalid("markdown", "\"markdown\" must be a string"))?;
        if markdown.len() > MAX_MARKDOWN_CHARS * 4 || markdown.chars().count() > MAX_MARKDOWN_CHARS
        {
            return Err(ToolError::invalid(
                "markdown",
                format!("the Markdown is longer than {MAX_MARKDOWN_CHARS} characters"),
            ));
        }
        Ok(render(markdown))
    }
}

fn parser(markdown: &str) -> Parser<'_> {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS;
    Parser::new_ext(markdown, options)
}

// ---- to_html ----

/// True for link targets that cannot run script: relative, fragment, http(s), mailto, tel;
/// and, for images only, inline raster data.
fn is_safe_url(url: &str, image: bool) -> bool {
    let cleaned: String = url
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect::<String>()
        .to_ascii_lowercase();
    let scheme_end = cleaned.find(':');
    let first_separator = cleaned.find(['/', '?', '#']);
    let Some(colon) = scheme_end.filter(|&c| first_separator.is_none_or(|s| c < s)) else {
        return true; // no scheme: a relative reference
    };
    let scheme = &cleaned[..colon];
    matches!(scheme, "http" | "https" | "mailto" | "tel")
        || (image
            && [
                "data:image/png",
                "data:image/gif",
                "data:image/jpeg",
                "data:image/webp",
            ]
            .iter()
            .any(|p| cleaned.starts_with(p)))
}

fn to_html(markdown: &str) -> Value {
    let mut removed_links = 0usize;
    let events = parser(markdown).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            let dest_url = if is_safe_url(&dest_url, false) {
                dest_url
            } else {
                removed_links += 1;
                CowStr::Borrowed("#")
            };
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            })
        }
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            let dest_url = if is_safe_url(&dest_url, true) {
                dest_url
            } else {
                removed_links += 1;
                CowStr::Borrowed("#")
            };
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            })
        }
        other => other,
    });
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events);
    json!({"html": html, "unsafe_links_removed": removed_links})
}

// ---- to_text ----

fn to_text(markdown: &str) -> Value {
    let mut text = String::with_capacity(markdown.len());
    let mut list_depth = 0usize;
    let ensure_newline = |text: &mut String| {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
    };
    let blank_line = |text: &mut String| {
        if !text.is_empty() {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            if !text.ends_with("\n\n") {
                text.push('\n');
            }
        }
    };
    for event in parser(markdown) {
        match event {
            Event::Text(t) | Event::Code(t) | Event::InlineMath(t) | Event::DisplayMath(t) => {
                text.push_str(&t)
            }
            Event::SoftBreak => text.push(' '),
            Event::HardBreak => text.push('\n'),
            Event::Rule => blank_line(&mut text),
            Event::TaskListMarker(done) => text.push_str(if done { "[x] " } else { "[ ] " }),
            Event::FootnoteReference(name) => {
                text.push('[');
                text.push_str(&name);
                text.push(']');
            }
            Event::Start(Tag::List(_)) => {
                if list_depth == 0 {
                    blank_line(&mut text);
                } else {
                    ensure_newline(&mut text);
                }
                list_depth += 1;
            }
            Event::End(TagEnd::List(_)) => {
                list_depth = list_depth.saturating_sub(1);
                if list_depth == 0 {
                    blank_line(&mut text);
                }
            }
            Event::Start(Tag::Item) => {
                ensure_newline(&mut text);
                text.push_str(&"  ".repeat(list_depth.saturating_sub(1).min(10)));
                text.push_str("- ");
            }
            Event::Start(
                Tag::Paragraph
                | Tag::Heading { .. }
                | Tag::CodeBlock(_)
                | Tag::BlockQuote(_)
                | Tag::Table(_),
            ) if list_depth == 0 => blank_line(&mut text),
            Event::End(
                TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::CodeBlock | TagEnd::Table,
            ) if list_depth == 0 => blank_line(&mut text),
            Event::End(TagEnd::TableCell) => text.push('\t'),
            Event::End(TagEnd::TableRow | TagEnd::TableHead) => {
                if text.ends_with('\t') {
                    text.pop();
                }
                text.push('\n');
            }
            _ => {}
        }
    }
    let text = text.trim().to_string();
    let words = text
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .count();
    json!({"text": text, "words": words})
}

// ---- outline ----

/// A GitHub-style anchor: lower case, punctuation dropped, spaces to hyphens.
fn anchor(text: &str) -> String {
    text.trim()
        .chars()
        .flat_map(char::to_lowercase)
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn level_number(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

/// What the text being collected belongs to.
enum Open {
    Heading(u8),
    Link { url: String, title: String },
    Image { url: String, title: String },
}

fn outline(markdown: &str) -> Value {
    let mut headings = Vec::new();
    let mut links = Vec::new();
    let mut images = Vec::new();
    let mut code_blocks = Vec::new();
    let mut anchors_used: HashMap<String, usize> = HashMap::new();
    let mut open: Vec<(Open, String)> = Vec::new();
    let mut code: Option<(Option<String>, usize)> = None;
    let mut words = 0usize;
    let mut truncated = false;

    let push_limited = |list: &mut Vec<Value>, item: Value, truncated: &mut bool| {
        if list.len() < MAX_OUTLINE_ITEMS {
            list.push(item);
        } else {
            *truncated = true;
        }
    };

    for event in parser(markdown) {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                open.push((Open::Heading(level_number(level)), String::new()))
            }
            Event::Start(Tag::Link {
                dest_url, title, ..
            }) => open.push((
                Open::Link {
                    url: dest_url.to_string(),
                    title: title.to_string(),
                },
                String::new(),
            )),
            Event::Start(Tag::Image {
                dest_url, title, ..
            }) => open.push((
                Open::Image {
                    url: dest_url.to_string(),
                    title: title.to_string(),
                },
                String::new(),
            )),
            Event::Start(Tag::CodeBlock(kind)) => {
                let language = match kind {
                    CodeBlockKind::Fenced(info) => info
                        .split_whitespace()
                        .next()
                        .filter(|l| !l.is_empty())
                        .map(str::to_string),
                    CodeBlockKind::Indented => None,
                };
                code = Some((language, 0));
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some((language, lines)) = code.take() {
                    push_limited(
                        &mut code_blocks,
                        json!({"language": language, "lines": lines}),
                        &mut truncated,
                    );
                }
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, lines)) = code.as_mut() {
                    *lines += t.lines().count();
                    continue;
                }
                words += t.split_whitespace().count();
                // Text counts toward every enclosing heading, link or image.
                for (_, collected) in open.iter_mut() {
                    if collected.len() < 10_000 {
                        collected.push_str(&t);
                    }
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                for (_, collected) in open.iter_mut() {
                    collected.push(' ');
                }
            }
            Event::End(TagEnd::Heading(_) | TagEnd::Link | TagEnd::Image) => {
                let Some((kind, collected)) = open.pop() else {
                    continue;
                };
                let text = collected.trim().to_string();
                match kind {
                    Open::Heading(level) => {
                        let base = anchor(&text);
                        let count = anchors_used.entry(base.clone()).or_insert(0);
                        let id = if *count == 0 {
                            base
                        } else {
                            format!("{base}-{count}")
                        };
                        *count += 1;
                        push_limited(
                            &mut headings,
                            json!({"level": level, "text": text, "anchor": id}),
                            &mut truncated,
                        );
                    }
                    Open::Link { url, title } => push_limited(
                        &mut links,
                        json!({"text": text, "url": url, "title": (!title.is_empty()).then_some(title)}),
                        &mut truncated,
                    ),
                    Open::Image { url, title } => push_limited(
                        &mut images,
                        json!({"alt": text, "url": url, "title": (!title.is_empty()).then_some(title)}),
                        &mut truncated,
                    ),
                }
            }
            _ => {}
        }
    }
    json!({
        "title": headings.iter().find(|h| h["level"] == 1).map(|h| h["text"].clone()),
        "headings": headings,
        "links": links,
        "images": images,
        "code_blocks": code_blocks,
        "word_count": words,
        "truncated": truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::builtin::test_context;

    async fn run(action: &str, markdown: &str) -> Result<Value, ToolError> {
        let (ctx, _dir) = test_context().await;
        Tool.call(action, &json!({"markdown": markdown}), &ctx)
            .await
    }

    #[tokio::test]
    async fn renders_html() {
        let r = run("to_html", "# Title\n\nSome *em* and **strong** text.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- [x] done\n")
            .await
            .unwrap();
        let html = r["html"].as_str().unwrap();
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(
            html.contains("<em>em</em>") && html.contains("<strong>strong</strong>"),
            "{html}"
        );
        assert!(
            html.contains("<table>") && html.contains("<td>1</td>"),
            "{html}"
        );
        assert!(html.contains("checked"), "{html}");
    }

    #[tokio::test]
    async fn escapes_raw_html_and_unsafe_links() {
        let r = run(
            "to_html",
            "<script>alert(1)</script>\n\nHi <img src=x onerror=alert(1)> there\n\n[click](javascript:alert(1)) [ok](https://example.com) ![i](data:text/html,x) [rel](/docs#a)",
        )
        .await
        .unwrap();
        let html = r["html"].as_str().unwrap();
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{html}"
        );
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("data:text"), "{html}");
        assert!(html.contains("href=\"https://example.com\""), "{html}");
        assert!(html.contains("href=\"/docs#a\""), "{html}");
        assert_eq!(r["unsafe_links_removed"], json!(2));
        assert!(!is_safe_url(" JaVa\tScRiPt:alert(1)", false));
        assert!(is_safe_url("page?next=a:b", false));
    }

    #[tokio::test]
    async fn strips_to_text() {
        let r = run(
            "to_text",
            "# Head\n\nA *b* `c` [link](http://x).\n\n- one\n- two\n  - nested\n\n```\ncode\n```\n",
        )
        .await
        .unwrap();
        assert_eq!(
            r["text"],
            "Head\n\nA b c link.\n\n- one\n- two\n  - nested\n\ncode"
        );
        assert_eq!(r["words"], json!(9));
    }

    #[tokio::test]
    async fn outlines_documents() {
        let md = "# Guide\n\nSee [the docs](https://d.example \"Docs\") and ![logo](l.png).\n\n## Set up\n\n```rust\nfn main() {}\nlet x = 1;\n```\n\n## Set up\n\n### Step `one`!\n";
        let r = run("outline", md).await.unwrap();
        assert_eq!(r["title"], "Guide");
        assert_eq!(
            r["headings"],
            json!([
                {"level": 1, "text": "Guide", "anchor": "guide"},
                {"level": 2, "text": "Set up", "anchor": "set-up"},
                {"level": 2, "text": "Set up", "anchor": "set-up-1"},
                {"level": 3, "text": "Step one!", "anchor": "step-one"}
            ])
        );
        assert_eq!(
            r["links"],
            json!([{"text": "the docs", "url": "https://d.example", "title": "Docs"}])
        );
        assert_eq!(
            r["images"],
            json!([{"alt": "logo", "url": "l.png", "title": null}])
        );
        assert_eq!(r["code_blocks"], json!([{"language": "rust", "lines": 2}]));
    }

    #[tokio::test]
    async fn survives_pathological_input() {
        for md in [
            "> ".repeat(50_000),
            "[".repeat(100_000),
            "*a ".repeat(50_000),
            "- ".repeat(50_000),
        ] {
            for action in ["to_html", "to_text", "outline"] {
                assert!(run(action, &md).await.is_ok());
            }
        }
    }

    #[tokio::test]
    async fn rejects_unknown_action_and_bad_params() {
        let (ctx, _dir) = test_context().await;
        match Tool
            .call("to_pdf", &json!({"markdown": "x"}), &ctx)
            .await
            .unwrap_err()
        {
            ToolError::InvalidInput { field, .. } => assert_eq!(field.as_deref(), Some("action")),
            other => panic!("{other:?}"),
        }
        match Tool
            .call("to_html", &json!({"markdown": 3}), &ctx)
            .await
            .unwrap_err()
        {
            ToolError::InvalidInput { field, .. } => assert_eq!(field.as_deref(), Some("markdown")),
            other => panic!("{other:?}"),
        }
    }
}
