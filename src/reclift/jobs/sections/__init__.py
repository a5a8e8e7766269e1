"""Demo-report sections contributed by each capability.

Each module here exposes ``add_section(rep, ws, *, data_dir) -> None``: it reads the
workspace (and the simulator's ``truth/`` under ``data_dir`` when given), fits what it needs
at demo scale and appends one section to the report.
"""
