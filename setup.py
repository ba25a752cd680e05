"""Installs mmkeras (multimodal Keras models) and serving (a TF Serving
compatible model server and client)."""

from setuptools import find_packages
from setuptools import setup

setup(
    name="mmkeras",
    version="0.1.0",
    description=(
        "Multimodal models in TensorFlow/Keras: encoders, fusion, tf.data "
        "pipelines, TF Serving export and a compatible model server."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.12",
    packages=find_packages(
        include=["mmkeras", "mmkeras.*", "serving", "serving.*"]
    ),
    # TF Serving releases' op lists, read by `mmkeras check-export`.
    package_data={"mmkeras.export": ["ops/*.json"]},
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.15,<3.16",
        # 2.21.0 registers ops that break Keras users; 2.21.1 fixes it.
        "tensorflow-text>=2.21.1,<2.22",
        "tensorflow-serving-api>=2.21,<2.22",
        "grpcio>=1.60",
        "numpy>=1.26",
        # serving: REST API, Prometheus metrics, REST client.
        "aiohttp>=3.9",
        "prometheus-client>=0.20",
        "requests>=2.31",
        "grpcio-health-checking>=1.60",
        # LiteRT interpreter: --prefer_tflite_model serves model.tflite.
        "ai-edge-litert>=2.0",
        # Video clips (MP4, WebM, GIF) are decoded through FFmpeg's libraries.
        "av>=14",
        # Result sheets (retrieval queries with their images and captions).
        "pillow>=11",
        # Training curves and validation metrics in TensorBoard.
        "tensorboard>=2.21,<2.22",
        # `mmkeras train --config run.yaml`.
        "pyyaml>=6",
        # Demo speech (`make-demo-data --task speech`): eSpeak NG's library
        # and voices in a plain manylinux wheel, called through ctypes.
        "espeakng-loader>=0.2.4",
    ],
    extras_require={
        "dev": [
            "pytest>=8",
            # `make test` runs the suite on two workers (pyproject.toml).
            "pytest-xdist>=3.6,<4",
            "ruff>=0.6",
            "cryptography>=42",
            "hypothesis>=6.100",
        ],
        # scripts/bench_train.py compares against keras-hub's CLIP; this
        # version installs without changing keras, tensorflow or
        # tensorflow-text.
        "bench": ["keras-hub==0.32.0"],
    },
    entry_points={
        "console_scripts": [
            "mmkeras=mmkeras.cli:main",
            "mmkeras-model-server=serving.server.main:main",
        ],
    },
)
