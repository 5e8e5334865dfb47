"""Session stores: the contract (base), in memory, Redis."""
