"""The annual round's pages: rounds, a village's registration and grid (issue 25)."""
