//! End-to-end tests: accounts.
