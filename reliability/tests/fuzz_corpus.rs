//! Replays the saved fuzz corpus (`fuzz/corpus/<target>/`, seeds plus what
//! a short `cargo fuzz run` kept) through the same checks the fuzz targets
//! run, so every input the fuzzer found interesting stays a regression test.

use std::path::PathBuf;

use httpswap_reliability::fuzz::{check, TARGETS};

#[test]
fn saved_corpus_passes_every_check() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for target in TARGETS {
        let dir = root.join(target);
        let mut inputs = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("entry").path();
            let data = std::fs::read(&path).expect("input");
            let outcome = std::panic::catch_unwind(|| check(target, &data));
            assert!(outcome.is_ok(), "{target}: {} fails", path.display());
            inputs += 1;
        }
        assert!(
            inputs >= 5,
            "{target}: only {inputs} inputs in {}",
            dir.display()
        );
    }
}

#[test]
fn checks_catch_what_they_claim() {
    // the checks are not vacuous: each accepts good input and the
    // properties they assert hold on hand-picked cases
    check("retry_after", b"1234");
    check("location", b"https://other.example/x?y#z");
    check("proxy", b"http://u:p@proxy:3128");
    check("sse", b"\x05data: a\r\n\r\nevent: x\ndata: b\n\n");
    let unknown = std::panic::catch_unwind(|| check("nope", b""));
    assert!(unknown.is_err());
}
