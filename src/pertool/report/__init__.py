"""Turning scores into things people read: terminal tables now, HTML later."""
