"""The job queue: admission, scheduling, pacing, dispatch, settlement and recovery."""
