"""Local, wire-faithful Tableau REST API sandbox (Tableau Server and Tableau Cloud flavours).

Entry points: ``tableau-sandbox serve`` (cli.py), ``TableauSandboxServer`` (testing.py) and the
pytest fixtures in pytest_plugin.py. See the "Tableau sandbox" section of sandbox/README.md.
"""

from tableau_sandbox.app import create_app  # noqa: F401

__all__ = ["create_app"]
