"""The worker tests share a throwaway Redis, an SMTP server and an app on this run's database."""

from tests.worker.test_worker_process import redis_server, smtp, worker_app  # noqa: F401 (fixtures)
