//! Connection pool bookkeeping (in progress, issue 4).
