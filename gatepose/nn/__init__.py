"""Models built from the ops: the generator (PoseGate-Former), the camera net and the critic."""
