"""Training: the optimiser loop, metrics and checkpoints."""
