"""ikema: the IKEMA phase 3 trial (NCT03275285) as software."""

__version__ = "0.1.0"
