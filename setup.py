"""Maps the repository folders under one import namespace.

`common/` installs as `koabus.common`, `services/` as `koabus.services` and `metadata/` as
`koabus.metadata`, so nothing bare lands in site-packages. `koabus` itself is a namespace package.
"""
from setuptools import find_packages, setup

FOLDERS = {"common": "koabus.common", "services": "koabus.services", "metadata": "koabus.metadata"}
#: folders of data files only (package-data in pyproject.toml), listed so setuptools ships them quietly
DATA_PACKAGES = ["koabus.metadata.data", "koabus.services.web.static"]


def _packages():
    found = []
    for folder, name in FOLDERS.items():
        found.append(name)
        found += [f"{name}.{sub}" for sub in find_packages(folder)]
    return found + DATA_PACKAGES


# the licence lives here, not in pyproject.toml (see the note there)
setup(license="MIT", packages=_packages(), package_dir={name: folder for folder, name in FOLDERS.items()})
