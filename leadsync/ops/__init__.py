"""Admin commands around the pipeline: check, explain, preview, reconcile (and adopt)."""
