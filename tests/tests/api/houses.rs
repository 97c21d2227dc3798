//! End-to-end tests: houses.
