"""Code shared by several promkit tools; nothing tool-specific lives here."""
