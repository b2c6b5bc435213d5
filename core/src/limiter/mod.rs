//! Concurrency limiter (in progress, issue 4).
