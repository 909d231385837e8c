"""ikema.web: see DESIGN.md."""
