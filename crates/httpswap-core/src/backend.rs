//! For backend authors: what every transport calls, so that they all
//! behave the same. Users of a transport need none of it (the `httpswap`
//! facade does not re-export this module), as rustls keeps its
//! provider-author API under `rustls::crypto`.
//!
//! - [`apply_url_credentials`]: URL user info as `Authorization: Basic`,
//!   out of the URL, before anything looks at it;
//! - [`without_userinfo`]: a URL without its user info;
//! - [`proxy_refused`]: the error of a proxy that refused a request;
//! - [`status_has_no_body`]: statuses whose `Content-Length` frames no body.
//!
//! The building blocks of adapters over other libraries (timeouts those
//! libraries lack, pool limits, error-chain search) are in the
//! `httpswap-adapter` crate.

pub use crate::body::status_has_no_body;
pub use crate::credentials::{apply_url_credentials, without_userinfo};
pub use crate::proxy::proxy_refused;
