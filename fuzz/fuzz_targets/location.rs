#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    httpswap_reliability::fuzz::location(data);
});
