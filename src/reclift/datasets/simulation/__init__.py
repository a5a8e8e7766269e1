"""Building blocks of the shop simulator; the public entry is :mod:`reclift.datasets.simulate`."""
