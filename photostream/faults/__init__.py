"""Fault drills through real processes, run by hand or by ``scripts/fault-*.sh``, never by ``make test``: each
starts (or expects) its own services beside the shared stack and is too heavy to run alongside the suite."""
