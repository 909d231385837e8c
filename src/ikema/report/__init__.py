"""ikema.report: see DESIGN.md."""
