//! The embed widget: the `embed.js` loader and the pages it frames.
//!
//! The pages are server-rendered shells. Everything they show is either
//! escaped here (titles) or handed to `page.js` as JSON in a `data-config`
//! attribute, which the script renders with DOM text APIs only. Scripts and
//! styles are static assets compiled into the binary, so the pages run under
//! a Content-Security-Policy with no inline script or style at all.

pub mod assets;
pub mod page;

pub use crate::services::embed::{EmbedView, Page, ViewError};
pub use assets::{asset, Asset};
pub use page::{content_security_policy, escape_html, render_error, render_page};
