"""Turning scores into things people read: terminal tables, HTML reports, leaderboards, ablations."""
