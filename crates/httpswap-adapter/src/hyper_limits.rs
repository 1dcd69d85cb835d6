//! The response head limits handed to hyper, for every adapter whose
//! library runs on hyper (the hyper backend, reqwest). hyper's own limits
//! only need to be no lower than the configured ones: `check_response_head`
//! checks those on every backend.

use httpswap_core::HeadLimits;

/// How many HTTP/1 response header fields hyper reads when it is given no
/// limit (its `DEFAULT_MAX_HEADERS`).
pub const HYPER_DEFAULT_MAX_HEADERS: usize = 100;

/// The HTTP/1 header field limit to give hyper for `head`: `None` (hyper's
/// own) unless the configured limit is higher. Given a limit, hyper fills
/// that many header slots on the heap for every response, where its
/// default uses an inline array (the cost is in BENCHMARKS.md).
///
/// ```
/// use httpswap_adapter::hyper_limits::hyper_max_headers;
/// let mut head = httpswap_core::HeadLimits::default();
/// assert_eq!(hyper_max_headers(&head), None);
/// head.max_headers = 500;
/// assert_eq!(hyper_max_headers(&head), Some(500));
/// ```
pub fn hyper_max_headers(head: &HeadLimits) -> Option<usize> {
    (head.max_headers > HYPER_DEFAULT_MAX_HEADERS).then_some(head.max_headers)
}

/// HTTP/2's header list size for `head`: RFC 9113 counts 32 bytes a field
/// on top of name and value, where [`HeadLimits::size_of`] counts 4.
///
/// ```
/// let head = httpswap_core::HeadLimits::default();
/// assert_eq!(
///     httpswap_adapter::hyper_limits::h2_header_list_size(&head),
///     100 * 1024 + 100 * 32
/// );
/// ```
pub fn h2_header_list_size(head: &HeadLimits) -> u32 {
    let size = head
        .max_size
        .saturating_add(head.max_headers.saturating_mul(32));
    u32::try_from(size).unwrap_or(u32::MAX)
}
