"""WSGI entry point for gunicorn: ``gunicorn htsd_workflow.wsgi:app``."""

from htsd_workflow import create_app

app = create_app()
