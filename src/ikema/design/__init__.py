"""ikema.design: see DESIGN.md."""
