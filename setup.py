"""The one build mapping pyproject.toml cannot express (everything else is configured there).

prompts/ and data/corpus/ stay at the top of the repository, where people look for them and
edit them; the build maps them into the package as paperchat/_prompts and paperchat/_corpus,
so a wheel carries them (paperchat.settings reads them with importlib.resources).
"""

from setuptools import find_packages, setup

SHIPPED = {"paperchat._prompts": "prompts", "paperchat._corpus": "data/corpus"}

setup(
    packages=[*find_packages("src"), *SHIPPED],
    package_dir={"": "src", **SHIPPED},
    package_data={"paperchat": ["py.typed"], **{name: ["*"] for name in SHIPPED}},
)
