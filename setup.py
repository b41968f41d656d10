"""Maps the two source folders onto one package: sdk/vitsdk -> vitsdk, converters -> vitsdk.converters.

pyproject.toml cannot express a package whose subpackage lives in another top-level folder, so the
package list is computed here; everything else is in pyproject.toml.
"""
from setuptools import find_packages, setup

packages = find_packages("sdk", include=["vitsdk", "vitsdk.*"])
packages += ["vitsdk." + name for name in find_packages(".", include=["converters", "converters.*"])]
setup(packages=packages, package_dir={"vitsdk": "sdk/vitsdk", "vitsdk.converters": "converters"})
