//! The conformance suite, run against the hyper backend.
httpswap_test::conformance_tests!(httpswap_hyper::HyperTransport::new);
