"""ikema.store: see DESIGN.md."""
