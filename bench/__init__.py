"""`make bench`: open-loop load against a fresh mesh, baselines from the same run, a capacity model."""
