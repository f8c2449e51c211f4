//! Signatures end to end through the real binary: `send --secret` to `serve --verify`,
//! `sign`/`verify`/`secret new`, retries signed afresh at a mock customer, GitHub's scheme,
//! and secrets kept out of output.

mod commands;
mod inbound;

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const OTHER_SECRET: &str = "whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldCB5b3UgYXJlIGxvb2tpbmcgZm9y";
