"""ikema.response: see DESIGN.md."""
