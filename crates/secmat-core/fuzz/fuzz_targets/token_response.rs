//! Fuzzes the token endpoint answer parser: whatever a hostile or broken authorization server
//! sends (status, `Retry-After`, body), parsing must return a token or an error, never panic,
//! and never quote a known secret.
//!
//!     cargo install cargo-fuzz
//!     cd crates/secmat-core && cargo fuzz run -s none token_response -- -max_total_time=60
#![no_main]

use libfuzzer_sys::fuzz_target;
use secmat_core::token_response::{TokenError, parse};

const SECRET: &str = "fuzz-secret-value";

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let status = 100 + u16::from_le_bytes([data[0], data[1]]) % 500;
    let retry_after = (data[2] % 2 == 0).then_some(u64::from(data[2]));
    let body = &data[3..];
    match parse(status, retry_after, body, &[SECRET]) {
        Ok(token) => assert!((200..300).contains(&status) || status == token.http_status),
        Err(e) => {
            let text = e.to_string();
            assert!(!text.contains(SECRET), "secret quoted: {text}");
            if let TokenError::Status { excerpt, .. } = &e {
                assert!(excerpt.chars().count() <= 161);
            }
        }
    }
});
