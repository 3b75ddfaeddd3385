//! The request head a wasi:http handler receives, as the host gives it. Its own file so that the
//! request description ([`crate::request`]) and the handler bridge ([`crate::http_handler`]),
//! which runs requests, need not import each other.

/// The request line and header fields a wasi:http handler receives.
#[derive(Clone, Debug, Default)]
pub struct HttpHead<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The path with its query, as the client sent it (`/a/b?x=1`).
    pub path_with_query: &'a str,
    /// `http` or `https`.
    pub scheme: &'a str,
    /// `host[:port]` the client asked for.
    pub authority: &'a str,
    /// Every request header field, in order.
    pub headers: Vec<(&'a str, &'a str)>,
}
