"""End-to-end jobs that chain the layers (simulate, ingest, build, train, evaluate, report).

Jobs sit at the top of the layer stack beside ``cli`` and ``serving``: both fronts call them,
so a scheduled refresh in the service and a command line run do the same thing.
"""
