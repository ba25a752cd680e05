"""Server-side dynamic batching with TensorFlow Serving's parameters."""

from serving.server.batching.batcher import Batcher
from serving.server.batching.options import BatchingOptions

__all__ = ["Batcher", "BatchingOptions"]
