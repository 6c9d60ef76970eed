"""Admin pages: user accounts, roles and territories."""
