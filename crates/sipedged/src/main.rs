//! The sipedge daemon. The gateway itself is not built yet: this binary only says so.
#![forbid(unsafe_code)]

fn main() {
    println!("sipedged {}", env!("CARGO_PKG_VERSION"));
    println!(
        "The gateway is not built yet: only the WebSocket masking kernel (crates/wsmask) exists so far."
    );
    println!("See README.md for what works today.");
}
