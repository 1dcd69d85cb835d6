httpswap_test::conformance_tests!(httpswap_hyper::HyperTransport::new);
