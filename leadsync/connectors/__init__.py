"""One module per system: the only code that talks to the outside."""
