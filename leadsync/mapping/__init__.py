"""Field maps and value transforms: a source record in, a canonical lead out. Pure."""
