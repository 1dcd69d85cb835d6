//! The origin of a request URL, checked the same way on every backend.

use std::fmt;

use http::Uri;
use httpswap_core::{Error, ErrorKind};

/// `scheme://host:port` of an absolute `http(s)` URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// `https` or not (`http`).
    pub https: bool,
    /// The host, as written (IPv6 in brackets).
    pub host: String,
    /// The port, the scheme's default when the URL has none.
    pub port: u16,
}

impl Origin {
    /// The origin of `uri`.
    ///
    /// ```
    /// let o = httpswap_adapter::Origin::of(&"http://example.com/x".parse().unwrap())?;
    /// assert_eq!(o.to_string(), "http://example.com:80");
    /// # Ok::<(), httpswap_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `UnsupportedProtocol` for a scheme other than http and https;
    /// `InvalidUrl` for a URL with no scheme or no host.
    pub fn of(uri: &Uri) -> Result<Origin, Error> {
        let (https, port) = check_url(uri)?;
        let host = uri.host().unwrap_or_default().to_owned();
        Ok(Origin { https, host, port })
    }
}

/// Checks that `uri` is an absolute `http(s)` URL with a host; returns
/// whether it is `https` and its port (the scheme's default if none).
/// Allocates nothing, for the hot path of a transport.
///
/// ```
/// let uri = "https://example.com/x".parse().unwrap();
/// assert_eq!(httpswap_adapter::check_url(&uri)?, (true, 443));
/// # Ok::<(), httpswap_core::Error>(())
/// ```
///
/// # Errors
///
/// As [`Origin::of`].
pub fn check_url(uri: &Uri) -> Result<(bool, u16), Error> {
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        Some(other) => {
            return Err(Error::new(
                ErrorKind::UnsupportedProtocol,
                format!("unsupported url scheme {other:?} in {uri}: expected http or https"),
            ))
        }
        None => {
            return Err(Error::new(
                ErrorKind::InvalidUrl,
                format!("url {uri} has no scheme: an absolute http(s) url is needed"),
            ))
        }
    };
    if uri.host().is_none_or(str::is_empty) {
        return Err(Error::new(
            ErrorKind::InvalidUrl,
            format!("url {uri} has no host"),
        ));
    }
    Ok((
        https,
        uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
    ))
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}
