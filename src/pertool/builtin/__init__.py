"""The built-in benchmark: a PTool-shaped generator whose labels are correct by construction."""
