"""Maps the source and data folders onto one package (everything else is in pyproject.toml):

    sdk/vitsdk -> vitsdk          converters -> vitsdk.converters
    schemas    -> vitsdk._schemas fpga       -> vitsdk._fpga      (data read through vitsdk.resources)

pyproject.toml cannot express a package whose subpackage lives in another top-level folder, so the
package list is computed here. Folders without __init__.py (data only: schemas, the RTL sources, the
browser benchmark page) are namespace packages, so their files travel as package data; the patterns are
in pyproject.toml's [tool.setuptools.package-data].
"""
import os

from setuptools import find_namespace_packages, setup

DATA_ROOTS = {"vitsdk._schemas": "schemas", "vitsdk._fpga": "fpga"}


def subfolders(package: str, folder: str) -> dict[str, str]:
    """{package name: folder} for `folder` and every folder below it (caches and build outputs left out)."""
    found = {}
    for here, dirs, _ in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__pycache__")) and d not in ("build", "out"))
        rel = os.path.relpath(here, folder)
        found[package if rel == "." else package + "." + rel.replace(os.sep, ".")] = here
    return found


package_dir = {"vitsdk": "sdk/vitsdk", "vitsdk.converters": "converters"}
packages = [p for p in find_namespace_packages("sdk", include=["vitsdk", "vitsdk.*"]) if "__pycache__" not in p]
packages += ["vitsdk." + p for p in find_namespace_packages(".", include=["converters", "converters.*"])
             if "__pycache__" not in p]
for package, folder in DATA_ROOTS.items():
    package_dir[package] = folder
    packages += list(subfolders(package, folder))
setup(packages=packages, package_dir=package_dir)
