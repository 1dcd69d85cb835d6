//! The shared conformance suite, run on the reqwest backend.
httpswap_test::conformance_tests!(httpswap_reqwest::ReqwestTransport::new);
