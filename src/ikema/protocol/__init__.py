"""ikema.protocol: see DESIGN.md."""
