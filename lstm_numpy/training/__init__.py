"""Training: ``loop`` (TrainConfig and the epochs), ``optim`` (SGD, Adam, clipping),
``averaging`` (a moving average of the weights), ``resume`` (Ctrl-C and --resume) and
``checkpoint`` (.npz + JSON, atomic, checksummed)."""
