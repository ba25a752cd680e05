"""gRPC servicer for tensorflow.serving.PredictionService."""

import functools

from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving.server import classify
from serving.server import metadata
from serving.server import multi_inference
from serving.server import regress
from serving.server.limits import DEFAULT_LIMITS
from serving.server.predict import Predictor
from serving.server.rpc import answer
from serving.server.rpc import deadline


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict, Classify, Regress, MultiInference and GetModelMetadata.

    Args:
        manager: ModelManager. The servables to answer for.
        batching_options: BatchingOptions | None. Batch concurrent
            requests (Predict, Classify, Regress, MultiInference); None
            runs each request on its own.
        limits: RequestLimits | None. Per-request size caps; None: defaults.
        on_batch: optional callable(model_name, signature_name, batch_size)
            called for every batch run (for metrics).
        tensor_content: bool. Write Predict outputs in tensor_content
            (--enable_serialization_as_tensor_content) rather than in
            typed value fields, TensorFlow Serving's default.

    Attributes:
        predictor: Predictor. Answers Predict; a REST front end should call
            `predictor.predict(request, deadline)` and run classify and
            regress through `predictor.runner`, so that its requests batch
            together with the gRPC ones.

    Example:

    ```python
    service = PredictionService(manager, BatchingOptions(max_batch_size=8))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        service, server)
    ...
    service.close()  # after server.stop(): finish queued batches
    ```
    """

    def __init__(
        self,
        manager,
        batching_options=None,
        limits=None,
        on_batch=None,
        tensor_content=False,
    ):
        self._manager = manager
        self._limits = limits or DEFAULT_LIMITS
        self.predictor = Predictor(
            manager, batching_options, self._limits, on_batch, tensor_content
        )

    def Predict(self, request, context):
        predict = functools.partial(
            self.predictor.predict, deadline=deadline(context)
        )
        return answer(context, predict, request)

    def Classify(self, request, context):
        return self._run_examples(context, classify.classify, request)

    def Regress(self, request, context):
        return self._run_examples(context, regress.regress, request)

    def MultiInference(self, request, context):
        return self._run_examples(
            context, multi_inference.multi_inference, request
        )

    def GetModelMetadata(self, request, context):
        return answer(
            context, metadata.get_model_metadata, self._manager, request
        )

    def close(self):
        """Finishes queued batches and stops the batch threads."""
        self.predictor.close()

    def _run_examples(self, context, handler, request):
        # Through the predictor's runner: batched with Predict, as TF
        # Serving batches every Session::Run.
        return answer(
            context,
            handler,
            self._manager,
            request,
            self._limits,
            self.predictor.runner,
            deadline(context),
        )
