"""Several processes on one PostgreSQL database: one dispatcher at a time, every queue mirrored."""
