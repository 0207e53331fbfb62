//! What all three functions promise alike, through the real binaries under the Runtime API
//! emulator: init failures reach `/init/error` without quoting secrets, and no log line at any
//! level carries a token, a header value or a secret. One test binary, one module per topic.

mod init_errors;
mod log_secrets;
