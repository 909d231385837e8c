"""ikema.analysis: see DESIGN.md."""
