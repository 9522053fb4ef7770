"""Durable Message Batches: requests stored in SQLite, run in the background at low priority, results
written as each request finishes."""
