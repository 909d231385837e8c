"""ikema.conduct: see DESIGN.md."""
