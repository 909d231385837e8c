"""ikema.simulate: see DESIGN.md."""
