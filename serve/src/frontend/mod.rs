//! The front ends: each protocol's module turns its calls into the
//! engine's protocol-neutral requests and the engine's replies and
//! refusals into its own answers; the connections of every port are held
//! to the same limits ([`conn`], [`stall`], [`web`] for the hyper-served
//! ones).

pub mod bounded;
pub mod conn;
pub mod http;
pub mod kserve;
pub mod stall;
pub mod tfserving;
pub mod thrift;
pub mod tls;
pub mod web;

/// The most bytes of an error message a client is sent: messages name
/// what the client sent (models, inputs, outputs), and a client's names
/// are not bounded but by the message size.
pub const MAX_ERROR_BYTES: usize = 1024;

/// `message`, cut to [`MAX_ERROR_BYTES`] (at a character's boundary) and
/// marked as cut.
pub fn clip(mut message: String) -> String {
    if message.len() > MAX_ERROR_BYTES {
        let mut end = MAX_ERROR_BYTES;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let total = message.len();
        message.truncate(end);
        message.push_str(&format!("... ({total} bytes in all)"));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_message_is_cut_at_a_character_boundary_and_says_so() {
        let long = "é".repeat(MAX_ERROR_BYTES);
        let cut = clip(long.clone());
        assert!(cut.len() < MAX_ERROR_BYTES + 40, "{}", cut.len());
        assert!(cut.ends_with(&format!("... ({} bytes in all)", long.len())));
        assert_eq!(clip("short".into()), "short");
    }
}
