"""The pipeline: pull, map, resolve, plan, push; and the checks and runs around it."""
