//! End-to-end tests: images.
