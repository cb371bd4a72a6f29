//! A mark an adapter puts on a response that answers an internal failure,
//! so the middleware in front of every route (`http::with_middleware`) can
//! name the request id in its body.

/// Marks a response as an internal error.
#[derive(Clone, Copy, Debug)]
pub struct InternalErrorMarker;
