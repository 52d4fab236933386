"""The MLOps Zoomcamp streaming example's algorithm, rewritten here as the baseline."""
