//! End-to-end tests of annotated functions live in `tests/`.
