"""ikema.stats: see DESIGN.md."""
