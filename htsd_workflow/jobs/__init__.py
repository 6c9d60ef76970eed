"""Background work: the job model mixin, the claim rule, the progress format, the task names
and the boundary that commits (see docs/architecture.md, "Background jobs")."""
