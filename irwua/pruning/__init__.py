"""Pruning, in four steps: rank the weights or units (``ranking``), plan which layers can lose
units (``shrink_plan``), apply the cuts to a copy of the model (``cuts``, ``edits``); the
pruning pass and ``irwua prune`` measure the result."""
