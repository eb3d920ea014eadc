"""Maps the repository folders under one import namespace.

`common/` installs as `koabus.common`, `services/` as `koabus.services` and `metadata/` as
`koabus.metadata`, so nothing bare lands in site-packages. `koabus` itself is a namespace package.
"""
from setuptools import find_packages, setup

FOLDERS = {"common": "koabus.common", "services": "koabus.services", "metadata": "koabus.metadata"}


def _packages():
    found = []
    for folder, name in FOLDERS.items():
        found.append(name)
        found += [f"{name}.{sub}" for sub in find_packages(folder)]
    return found


setup(packages=_packages(), package_dir={name: folder for folder, name in FOLDERS.items()})
