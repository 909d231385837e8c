"""ikema.cdisc: see DESIGN.md."""
