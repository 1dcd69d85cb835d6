//! Searching an error's source chain.

use std::error::Error as StdError;
use std::io;

/// The error and its sources, outermost first.
pub fn chain<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |e: &&'a (dyn StdError + 'static)| (*e).source())
}

/// Finds a `T` in the source chain. `io::Error::source` skips the error it
/// wraps, so the payload of every `io::Error` is searched too.
///
/// ```
/// use std::io;
/// #[derive(Debug)]
/// struct Marker;
/// impl std::fmt::Display for Marker {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("marker") }
/// }
/// impl std::error::Error for Marker {}
///
/// let err = io::Error::new(io::ErrorKind::Other, Marker);
/// assert!(httpswap_adapter::find_source::<Marker>(&err).is_some());
/// ```
pub fn find_source<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    chain(err).find_map(|e| {
        e.downcast_ref::<T>().or_else(|| {
            e.downcast_ref::<io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| find_source::<T>(inner))
        })
    })
}
