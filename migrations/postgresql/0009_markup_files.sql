-- Migration: 0009 (PostgreSQL; SQLite's is ../0009_markup_files.sql, which explains it)
-- Reason: an edit may carry a markup image, stored with the job's inputs like a mask.
-- PostgreSQL changes the CHECK constraint in place (SQLite rebuilds the table); the constraint
-- has PostgreSQL's default name for 0001's inline CHECK on job_files.role.

ALTER TABLE job_files DROP CONSTRAINT job_files_role_check;
ALTER TABLE job_files ADD CONSTRAINT job_files_role_check
    CHECK (role IN ('input', 'mask', 'markup', 'result'));
