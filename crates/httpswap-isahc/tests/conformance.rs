//! The conformance suite, run against the isahc backend.
httpswap_test::conformance_tests!(httpswap_isahc::IsahcTransport::new);
