"""Model backends behind one async contract (see base.py) and the spec registry."""
