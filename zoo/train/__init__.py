"""Training: configuration, loss, checkpoints, the trainer loop and `zoo train` / `zoo eval`."""
