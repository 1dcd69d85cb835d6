//! The backend choice by cargo feature: `.ci/run` runs this with each
//! backend feature alone, and with the defaults.

#[test]
fn the_default_backend_follows_the_features() {
    // the documented order: hyper, then reqwest, then isahc
    let want = if cfg!(feature = "hyper") {
        "hyper"
    } else if cfg!(feature = "reqwest") {
        "reqwest"
    } else {
        "isahc"
    };
    assert_eq!(httpswap_examples::backend_name(), want);
    let enabled = httpswap::enabled_backends();
    for (feature, name) in [
        (cfg!(feature = "hyper"), "hyper"),
        (cfg!(feature = "reqwest"), "reqwest"),
        (cfg!(feature = "isahc"), "isahc"),
    ] {
        assert_eq!(enabled.contains(&name), feature, "{name} in {enabled:?}");
    }
}
