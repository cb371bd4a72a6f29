//! The wire types of the document: the `tollgate-api` crate's.

pub use tollgate_api::*;
