"""Gradient caching: a contrastive batch larger than memory allows.

GradCache (Gao et al. 2021, "Scaling Deep Contrastive Learning Batch Size
under Memory Limited Setup"). A contrastive loss couples every pair of a
batch, so it cannot be split into per-chunk losses; but the encoders see
one example at a time, so their backward pass can be split:

1. embed the batch chunk by chunk with no gradients (only the small
   embeddings stay in memory);
2. compute the loss over the whole batch and its gradient with respect
   to the embeddings (and to the loss's own weights, the logit scale);
3. run each chunk again with gradients and backpropagate the cached
   embedding gradients into the weights
   (`tape.gradient(embeddings, weights, output_gradients=cached)`),
   summing over chunks.

The sum is the full batch's gradient, so one optimizer step follows; the
peak memory is one chunk's activations instead of the batch's.

Exact for models whose examples do not interact inside the towers (no
batch normalisation across the batch), as every mmkeras encoder. Dropout
keeps it exact: both passes start from the same `SeedGenerator` states,
so each chunk draws the same masks twice (other masks than one
full-batch pass would draw, as chunk-sized draws must be).

Chunks have a fixed size, so shapes stay static (XLA compiles the step):
the last chunk is padded with copies of the batch's last row, whose
embeddings are dropped and whose cached gradients are zero.
"""

import keras
import tensorflow as tf
from keras.src.losses.loss import unscale_loss_for_distribution


def gradient_cache_step(model, data, chunk_size, loss_fn):
    """One training step of `model` with cached embedding gradients.

    What `keras.Model.train_step` does for a TensorFlow model, with the
    forward and backward passes split into chunks: the loss is scaled as
    the optimizer asks (`LossScaleOptimizer` under mixed_float16), one
    optimizer step applies the summed gradients, the `loss` metric gets
    the full batch's loss, and `compute_metrics` sees the whole batch's
    outputs.

    Args:
        model: a functional `keras.Model`, compiled.
        data: a `fit` batch: `(x, y)` or `(x, y, sample_weight)`.
        chunk_size: int. Examples per forward and backward pass.
        loss_fn: callable `(y, y_pred) -> float32 scalar` over the whole
            batch, without the layers' own losses (`model.losses`, which
            are added per chunk).

    Returns:
        The logs `model.compute_metrics` returns.
    """
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    loss, y_pred, gradients = cached_gradients(
        model, x, y, chunk_size, loss_fn, scale_loss=model.optimizer.scale_loss
    )
    model.optimizer.apply_gradients(
        zip(gradients, model.trainable_variables, strict=True)
    )
    # What Keras' own train_step reports (times the replicas in sync; no
    # public name exists for it).
    _loss_metric(model).update_state(
        unscale_loss_for_distribution(loss), sample_weight=_rows(x)
    )
    return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


def cached_gradients(model, x, y, chunk_size, loss_fn, scale_loss=None):
    """The loss, outputs and gradients of a batch, computed by chunks.

    Args:
        model: a functional `keras.Model`.
        x: the model's inputs for the batch.
        y: the targets `loss_fn` reads.
        chunk_size: int. Examples per forward and backward pass.
        loss_fn: callable `(y, y_pred) -> float32 scalar`, as in
            `gradient_cache_step`.
        scale_loss: optional callable scaling the loss before it is
            differentiated (an optimizer's `scale_loss`).

    Returns:
        `(loss, y_pred, gradients)`: the float32 loss (with the layers'
        own losses, unscaled), the batch's outputs (no gradients flow
        through them), and the (scaled) gradient of each
        `model.trainable_variables` entry, dense, zeros where the loss
        does not depend on the weight.
    """
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(
            f"chunk_size must be a positive int, received {chunk_size!r}."
        )
    rows = _rows(x)
    static_rows = tf.nest.flatten(x)[0].shape[0]
    if static_rows is not None:
        chunk_size = min(chunk_size, static_rows)
    chunks = (rows + chunk_size - 1) // chunk_size
    random_state = _random_state(model)
    start_state = [tf.identity(v) for v in random_state]

    y_pred, chunk_losses = _embed_without_gradients(
        model, x, rows, chunks, chunk_size
    )
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        tape.watch((y_pred, chunk_losses))
        loss = loss_fn(y, y_pred) + tf.reduce_sum(chunk_losses)
        scaled = loss if scale_loss is None else scale_loss(loss)
    output_gradients, loss_weights, loss_gradients = tape.gradient(
        scaled, (y_pred, chunk_losses, variables)
    )

    # The second pass must draw the first pass's dropout masks.
    for variable, value in zip(random_state, start_state, strict=True):
        variable.assign(value)
    chunk_gradients = _backpropagate_chunks(
        model, x, rows, chunks, chunk_size, output_gradients, loss_weights
    )
    gradients = [
        b if a is None else tf.convert_to_tensor(a) + b
        for a, b in zip(loss_gradients, chunk_gradients, strict=True)
    ]
    return loss, y_pred, gradients


def _embed_without_gradients(model, x, rows, chunks, chunk_size):
    """The outputs of every chunk, joined; and each chunk's share of the
    layers' own losses."""
    specs = keras.tree.flatten(model.output)
    outputs = [
        tf.TensorArray(
            spec.dtype,
            size=chunks,
            element_shape=(chunk_size, *spec.shape[1:]),
        )
        for spec in specs
    ]
    losses = tf.TensorArray(tf.float32, size=chunks, element_shape=())

    def body(index, outputs, losses):
        chunk, valid = _chunk(x, index, chunk_size, rows)
        chunk_outputs = keras.tree.flatten(model(chunk, training=True))
        outputs = [
            array.write(index, tf.stop_gradient(value))
            for array, value in zip(outputs, chunk_outputs, strict=True)
        ]
        losses = losses.write(
            index, tf.stop_gradient(_share_of_losses(model, valid, rows))
        )
        return index + 1, outputs, losses

    _, outputs, losses = tf.while_loop(
        lambda index, *_: index < chunks,
        body,
        (tf.constant(0), outputs, losses),
        # One chunk at a time: that is the point.
        parallel_iterations=1,
    )
    joined = [array.concat()[:rows] for array in outputs]
    return keras.tree.pack_sequence_as(model.output, joined), losses.stack()


def _backpropagate_chunks(
    model, x, rows, chunks, chunk_size, output_gradients, loss_weights
):
    """The sum over chunks of the weights' gradients, each chunk's outputs
    receiving their rows of `output_gradients`."""
    variables = model.trainable_variables
    flat_gradients = keras.tree.flatten(output_gradients)

    def body(index, sums):
        chunk, valid = _chunk(x, index, chunk_size, rows)
        with tf.GradientTape() as tape:
            outputs = keras.tree.flatten(model(chunk, training=True))
            targets = outputs
            target_gradients = [
                _rows_of(g, index, chunk_size, rows, valid)
                for g in flat_gradients
            ]
            if model.losses:
                targets = outputs + [_share_of_losses(model, valid, rows)]
                target_gradients.append(loss_weights[index])
        gradients = tape.gradient(
            targets, variables, output_gradients=target_gradients
        )
        return index + 1, [
            total if g is None else total + tf.convert_to_tensor(g)
            for total, g in zip(sums, gradients, strict=True)
        ]

    _, sums = tf.while_loop(
        lambda index, *_: index < chunks,
        body,
        (tf.constant(0), [tf.zeros(v.shape, v.dtype) for v in variables]),
        parallel_iterations=1,
    )
    return sums


def _chunk(x, index, chunk_size, rows):
    """Rows `[index * chunk_size, (index + 1) * chunk_size)` of every input,
    the batch's last row repeated past its end; and the float32 count of
    real rows."""
    positions = index * chunk_size + tf.range(chunk_size)
    chunk = tf.nest.map_structure(
        lambda t: tf.gather(t, tf.minimum(positions, rows - 1)), x
    )
    valid = tf.reduce_sum(tf.cast(positions < rows, tf.float32))
    return chunk, valid


def _rows_of(gradient, index, chunk_size, rows, valid):
    """A chunk's rows of an output gradient; zero on padding rows."""
    positions = index * chunk_size + tf.range(chunk_size)
    rows_gradient = tf.gather(gradient, tf.minimum(positions, rows - 1))
    mask = tf.cast(positions < rows, gradient.dtype)
    return rows_gradient * tf.reshape(
        mask, [-1] + [1] * (gradient.shape.rank - 1)
    )


def _share_of_losses(model, valid, rows):
    """The layers' own losses of a chunk's call, weighted by its share of
    the batch: over the chunks, a weight penalty sums to itself and a
    per-example mean to the batch's mean."""
    if not model.losses:
        return tf.constant(0.0)
    total = tf.add_n([tf.cast(v, tf.float32) for v in model.losses])
    return total * valid / tf.cast(rows, tf.float32)


def _random_state(model):
    """The `SeedGenerator` states of the model's layers: every variable
    that is not a weight."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _rows(x):
    return tf.shape(tf.nest.flatten(x)[0])[0]


def _loss_metric(model):
    (metric,) = [m for m in model.metrics if m.name == "loss"]
    return metric
