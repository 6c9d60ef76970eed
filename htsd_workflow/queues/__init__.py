"""Reviewer work queues: scoped keyset queries, bulk actions and their background jobs, search."""
