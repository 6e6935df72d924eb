//! TLS record state fuzzing (a hand-over's keys and sequence numbers): arbitrary bytes into the state reader,
//! then arbitrary records into the session it gives. Oracles: no panic; what is accepted is written back as the
//! same bytes; the session takes any records, sends and closes without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ringmux::fuzz_tls_state(data));
