from setuptools import setup

with open("README.rst", encoding="utf-8") as f:
    long_description = f.read()

setup(
    name="asynchttp",
    version="0.1.0",
    description=(
        "httplib2-compatible promises over a fast asyncio HTTP/1.1 engine, "
        "for blocking code that makes many requests at once"
    ),
    long_description=long_description,
    long_description_content_type="text/x-rst",
    license="MIT",
    packages=["asynchttp", "asynchttp_lowhaio"],
    package_data={"asynchttp": ["py.typed"], "asynchttp_lowhaio": ["py.typed"]},
    python_requires=">=3.10",
    install_requires=[
        "aiodnsresolver>=0.0.149,<0.1",
        # 0.32.0 is the first with the decode limits (decode_limit_*, a three-argument
        # _decompressContent); the private functions asynchttp/_httplib2.py wraps
        # are pinned by tests for 0.32.x only, so the next minor release must be
        # tested before it is allowed.  .ci/run tests this floor in its own venv.
        "httplib2>=0.32.0,<0.33",
    ],
    extras_require={
        "test": [
            "pytest>=7",
            "pytest-cov>=4",
            "trustme>=1.0",
            "hypothesis>=6",
            "h11>=0.14",
            "PySocks>=1.7",
            # tests/realworld/: libraries that build or take an httplib2.Http
            "google-api-python-client>=2.100,<3",
            "google-auth>=2.20,<3",
            "google-auth-httplib2>=0.2,<1",
            "oauth2client>=4.1,<5",
            "oauth2>=1.9,<2",
            "setuptools; python_version >= '3.12'",  # oauth2 imports distutils
            "google-apitools>=0.5.32,<0.6",
            "lazr.restfulclient>=0.14.6,<5",
            "oauthlib>=3.2,<5",
            "dask[distributed]>=2024.8,<2027",
        ],
        "bench": [
            "aiohttp>=3.8",
            "lowhaio==0.0.89",
            "requests-futures>=1.0",
            "urllib3>=2",
            "trustme>=1.0",
        ],
    },
    entry_points={"console_scripts": ["asynchttp=asynchttp._cli:main"]},
    zip_safe=False,
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Typing :: Typed",
        "Environment :: Console",
        "Intended Audience :: Developers",
        "Framework :: AsyncIO",
        "License :: OSI Approved :: MIT License",
        "Topic :: Internet :: WWW/HTTP",
    ],
)
