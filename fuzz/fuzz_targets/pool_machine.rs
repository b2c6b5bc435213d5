#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| perfopt_fuzz::targets::pool_machine(data));
