"""Model families: one package per family; each registers its tab in its own ``family.py``."""
