//! Two-tier TTL cache (in progress, issue 3).
