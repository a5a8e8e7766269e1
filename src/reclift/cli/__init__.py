"""Command-line front end (thin: no business logic lives here)."""
