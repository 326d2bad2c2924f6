-- Migration: 0011
-- Reason: placeholder on the origins branch for the blobs branch's 0011_stored_blobs.sql (no gaps
-- allowed): take theirs on merge.

SELECT 1;
