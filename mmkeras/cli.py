"""The `mmkeras` command: data, training, evaluation, export, prediction.

A user's mistake (a bad manifest, a missing file, a bad flag value) is
reported in one line and the command exits 1; `--debug` shows the
traceback instead.
"""

import argparse
import sys

from mmkeras.quiet import import_tensorflow_quietly

FUSIONS = ("attention", "weighted_sum", "concat", "gated", "cross_attention")
MODALITIES = ("audio", "image", "text", "video")
TASKS = ("classify", "retrieve", "speech", "video_summary")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("auto", "none", "mirrored", "multi-worker")
JIT_COMPILE = ("auto", "on", "off")
# check-export's default target (mmkeras.export.op_check.DEFAULT_RELEASE),
# repeated so that parsing flags imports no TensorFlow.
TF_SERVING_RELEASE = "2.21"


def _make_demo_data(args):
    if args.task == "retrieve":
        _make_retrieval_data(args)
        return
    if args.task == "video_summary":
        from mmkeras.data.synthetic_videos import write_video_summary_dataset

        clips = args.examples or 160
        path = write_video_summary_dataset(
            args.directory, clips, seed=args.seed
        )
        print(f"Wrote {clips} clips; manifest: {path}")
        return
    if args.task == "speech":
        _make_speech_data(args)
        return
    from mmkeras.data.synthetic import write_dataset

    args.examples = args.examples or 1800
    path = write_dataset(
        args.directory,
        args.examples,
        seed=args.seed,
        modalities=tuple(args.modalities),
    )
    print(f"Wrote {args.examples} examples; manifest: {path}")


def _make_retrieval_data(args):
    from mmkeras.data.synthetic_scenes import write_retrieval_dataset

    summary = write_retrieval_dataset(
        args.directory,
        num_train_images=args.examples or 8000,
        num_test_images=args.test_images,
        num_validation_images=args.test_images,
        seed=args.seed,
    )
    counts = ", ".join(
        f"{n} {split}" for split, n in summary.num_images.items()
    )
    print(f"Wrote scenes ({counts}); manifest: {summary.manifest_path}")


def _make_speech_data(args):
    from mmkeras.data.synthetic_speech import write_speech_dataset

    summary = write_speech_dataset(
        args.directory,
        examples_per_voice=args.examples or 120,
        seed=args.seed,
        engine=args.speech_engine,
    )
    counts = ", ".join(f"{n} {s}" for s, n in summary["counts"].items())
    print(
        f"Wrote {summary['engine']} speech ({counts}); manifest: "
        f"{summary['manifest']}"
    )


def _transcribe(args):
    from mmkeras.models.speech_recognizer import SpeechRecognizer
    from mmkeras.training.trainer import load_task

    if not (args.model or args.server):
        raise ValueError("Give --model DIR, or --server with --model-name.")
    task = load_task(args.model) if args.model else None
    if task is not None and not isinstance(task, SpeechRecognizer):
        raise ValueError(
            f"{args.model} holds a {type(task).__name__}; transcribe needs "
            "a speech task (mmkeras train --task speech)."
        )
    audio = [_read(path, "FILE") for path in args.files]
    if args.server:
        outputs = _transcribe_served(args, audio)
    else:
        raw = {"audio": _object_array(audio)}
        outputs = {k: v.numpy() for k, v in task.predict_raw(raw).items()}
    texts = [t.decode() for t in outputs["transcripts"]]
    if task is not None and args.decoder != "greedy":
        texts = task.transcribe(outputs, args.decoder)
    for row, (path, text) in enumerate(zip(args.files, texts, strict=True)):
        print(f"{path}: {text}")
        count = int(outputs["word_counts"][row])
        for word, start, end in zip(
            outputs["words"][row][:count],
            outputs["word_start_times"][row][:count],
            outputs["word_end_times"][row][:count],
            strict=True,
        ):
            print(f"  {start:6.2f} {end:6.2f}  {word.decode()}")


def _transcribe_served(args, audio):
    from mmkeras.remote import predict_raw
    from serving.client import PredictionClient

    if not args.model_name:
        raise ValueError("--server needs --model-name, the served model.")
    with PredictionClient(args.server, timeout=args.timeout) as client:
        return predict_raw(
            client, args.model_name, {"audio": _object_array(audio)}
        )


def _object_array(values):
    import numpy as np

    # dtype=object: a bytes array ("S") would drop trailing NUL bytes.
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _train(args):
    import dataclasses

    from mmkeras.training.config_file import load_config
    from mmkeras.training.trainer import TrainConfig
    from mmkeras.training.trainer import train

    fields = {field.name for field in dataclasses.fields(TrainConfig)}
    explicit = {k: v for k, v in vars(args).items() if k in fields}
    config = load_config(args.config, args.overrides, **explicit)
    result = train(config)
    _print_skipped(result.skipped)
    modalities = ", ".join(result.task.preprocessor.modalities)
    print(f"Trained a {config.task} task on {modalities}.")
    print(f"Saved it to {result.output_dir}/task.keras")


def _data_service(args):
    from mmkeras.training.distribution import data_service_dispatcher
    from mmkeras.training.distribution import data_service_worker

    if args.role == "dispatcher":
        server = data_service_dispatcher(args.port)
        port = server.target.rsplit(":", 1)[1]
        print(
            f"Dispatcher on port {port}: train with "
            f"--data-service=grpc://HOST:{port}",
            flush=True,
        )
    else:
        if not args.dispatcher:
            raise ValueError("a worker needs --dispatcher HOST:PORT.")
        server = data_service_worker(args.dispatcher, args.port, args.address)
        print(f"Worker of the dispatcher at {args.dispatcher}", flush=True)
    server.join()  # until the process is stopped


def _print_skipped(skipped):
    if not skipped:
        return
    print(f"Skipped {len(skipped)} bad records:")
    for record in skipped:
        print(f"  line {record.line}: {record.reason}")


def _evaluate(args):
    from mmkeras.training.evaluation import check_targets
    from mmkeras.training.evaluation import evaluate
    from mmkeras.training.trainer import load_source
    from mmkeras.training.trainer import load_task
    from mmkeras.training.trainer import task_kind

    task = load_task(args.model)
    kind = task_kind(task)
    source = load_source(
        args.manifest, task.preprocessor.modalities, args.skip_bad_records, kind
    )
    split = source.split(args.split)
    if isinstance(split, list):
        if not split:
            raise ValueError(
                f"{args.manifest} has no records with split '{args.split}'."
            )
        if kind == "classify":
            check_targets(task, split, args.manifest)
    _print_skipped(getattr(source, "skipped", []))
    if args.server and kind == "video_summary":
        raise ValueError(
            "--server measures batched signatures; a summarizer serves one "
            "clip per request: evaluate the training directory instead."
        )
    if args.server:
        metrics = _evaluate_served(args, task, split)
        where = f"{args.model_name} at {args.server}"
    else:
        metrics = evaluate(task, split, args.batch_size)
        where = args.model
    print(f"{args.split} split, {where}:")
    for name, value in metrics.items():
        shown = f"{value:.4f}" if isinstance(value, float) else value
        print(f"  {name}: {shown}")


def _evaluate_served(args, task, split):
    from mmkeras.remote import predict_raw
    from mmkeras.training.evaluation import evaluate
    from serving.client import PredictionClient

    if not args.model_name:
        raise ValueError("--server needs --model-name, the served model.")
    with PredictionClient(args.server, timeout=args.timeout) as client:
        return evaluate(
            task,
            split,
            args.batch_size,
            predict=lambda raw: predict_raw(client, args.model_name, raw),
        )


def _export(args):
    from mmkeras.export.saved_model import export_task
    from mmkeras.training.trainer import load_task

    task = load_task(args.training_dir)
    if args.gallery:
        _attach_gallery(task, args.gallery)
    if args.format == "tflite":
        _export_tflite(args, task)
        return
    if not (args.base_path and args.model_name):
        raise ValueError(
            "--format saved_model needs --base-path and --model-name."
        )
    from mmkeras.export.deployment import docker_command
    from mmkeras.preprocessing.decode_limits import DecodeLimits
    from mmkeras.preprocessing.decode_limits import limits_of

    limits = DecodeLimits(
        max_pixels=args.max_pixels,
        max_batch_pixels=args.max_batch_pixels,
        max_frames=args.max_frames,
        max_audio_samples=args.max_audio_samples,
        max_text_bytes=args.max_text_bytes,
    )
    path = export_task(
        task,
        args.base_path,
        args.model_name,
        args.version,
        limits=limits,
        warmup_examples=_warmup_examples(args, task),
    )
    print(f"Exported SavedModel to {path}")
    applied = {**limits_of(task.preprocessor), **limits.values()}
    print("Decode limits: " + ", ".join(f"{k}={v}" for k, v in applied.items()))
    print("Serve it with the official TF Serving:")
    print(
        "  "
        + docker_command(
            args.base_path, args.model_name, batching=task.serving_batches
        )
    )


def _attach_gallery(task, directory):
    import os

    from mmkeras.models import DualEncoder
    from mmkeras.models import load_gallery

    if not isinstance(task, DualEncoder):
        raise ValueError("--gallery is for retrieval tasks (a DualEncoder).")
    modality = task.modalities[0]
    task.attach_gallery(
        load_gallery(os.path.join(directory, modality), memory_map=False)
    )


def _warmup_examples(args, task):
    """Raw values of the first training records, for warmup requests."""
    if not args.warmup_examples:
        return None
    from mmkeras.data.pipeline import raw_dataset
    from mmkeras.training.trainer import load_source
    from mmkeras.training.trainer import task_kind

    manifest = args.manifest or _trained_manifest(args.training_dir)
    modalities = task.preprocessor.modalities
    source = load_source(manifest, modalities, task=task_kind(task))
    train_split = source.split("train")
    if isinstance(train_split, list):
        train_split = train_split[: args.warmup_examples]
    num_frames = task.metadata.get("train_config", {}).get("num_frames")
    dataset = raw_dataset(
        train_split, modalities, target_fields=(), max_video_frames=num_frames
    ).take(args.warmup_examples)
    examples = {m: [] for m in modalities}
    for raw in dataset.as_numpy_iterator():
        for modality in modalities:
            value = raw[modality]
            examples[modality].append(
                list(value) if modality == "video" else value
            )
    if task_kind(task) == "video_summary":
        # Its signatures take one clip, (frames,): warm up with the first.
        return {"video": examples["video"][0]}
    return examples


def _export_tflite(args, task):
    from mmkeras.export.parity import format_report
    from mmkeras.export.tflite import calibration_samples
    from mmkeras.export.tflite import export_tflite
    from mmkeras.training.evaluation import check_targets
    from mmkeras.training.trainer import load_source
    from mmkeras.training.trainer import task_kind

    if not args.output:
        raise ValueError("--format tflite needs --output, the .tflite file.")
    manifest = args.manifest or _trained_manifest(args.training_dir)
    kind = task_kind(task)
    source = load_source(manifest, task.preprocessor.modalities, task=kind)
    held_out = None
    for split in ("test", "validation"):
        records = source.split(split)
        if not isinstance(records, list) or records:
            held_out = records
            break
    if held_out is None:
        raise ValueError(
            f"{manifest} has no test or validation records to measure the "
            "TFLite model on."
        )
    if isinstance(held_out, list) and kind == "classify":
        check_targets(task, held_out, manifest)
    result = export_tflite(
        task,
        args.output,
        args.quantize,
        calibration=calibration_samples(task, source.split("train")),
        held_out=held_out,
    )
    print(f"Exported TFLite ({args.quantize}) to {result.path}")
    print(format_report(result.report))
    print(f"Parity report: {result.report_path}")


def _trained_manifest(training_dir):
    """The manifest a training run read, from its config.json."""
    import json
    import os

    from mmkeras.training.trainer import CONFIG_FILE

    path = os.path.join(training_dir, CONFIG_FILE)
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)["manifest"]
    if not os.path.exists(manifest):
        raise ValueError(
            f"{path} names the manifest {manifest}, which is not there; "
            "pass --manifest."
        )
    return manifest


def _check_export(args):
    from mmkeras.export.op_check import check_export
    from mmkeras.export.op_check import format_findings

    findings = check_export(
        args.directory, args.tf_serving, args.prefer_tflite_model
    )
    print(format_findings(findings, args.tf_serving))
    if any(finding.missing for finding in findings):
        sys.exit(1)


def _predict(args):
    from mmkeras.data.media import read_video_frames
    from mmkeras.remote import predict_raw
    from mmkeras.remote import served_modalities
    from serving.client import PredictionClient

    given = {
        "image": args.image and _read(args.image, "--image"),
        "text": args.text,
        "audio": args.audio and _read(args.audio, "--audio"),
        "video": args.video and read_video_frames(args.video),
    }
    if not any(given.values()):
        raise ValueError(
            "Give at least one of --image, --text, --audio, --video."
        )
    with PredictionClient(args.server, timeout=args.timeout) as client:
        modalities = served_modalities(client, args.model)
        unused = [m for m in given if given[m] and m not in modalities]
        if unused:
            raise ValueError(
                f"Model {args.model} does not read {', '.join(unused)}; it "
                f"reads {', '.join(modalities)}."
            )
        raw = {
            m: [given[m] or (b"" if m != "video" else [])] for m in modalities
        }
        outputs = predict_raw(client, args.model, raw)
    _print_prediction(outputs, modalities)


def _read(path, flag):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as error:
        raise ValueError(
            f"cannot read {flag} {path}: {error.strerror}"
        ) from None


def _print_prediction(outputs, modalities):
    class_id = int(outputs["class_ids"][0])
    name = outputs["class_names"][0]
    name = name.decode() if isinstance(name, bytes) else name
    probability = outputs["probabilities"][0][class_id]
    print(f"{name} (probability {probability:.3f})")
    weights = outputs["modality_weights"][0]
    print(
        "modality weights: "
        + ", ".join(
            f"{m} {w:.2f}" for m, w in zip(modalities, weights, strict=True)
        )
    )


def _index(args):
    from mmkeras.training.retrieval import index_manifest
    from mmkeras.training.trainer import load_task
    from mmkeras.training.trainer import task_file

    task = _retrieval_task(load_task(args.model), args.model)
    galleries = index_manifest(
        task,
        args.manifest,
        args.output,
        args.batch_size,
        task_file=task_file(args.model),
    )
    for modality, gallery in galleries.items():
        print(
            f"Indexed {len(gallery)} {modality} items "
            f"({gallery.width}-wide) into {args.output}/{modality}"
        )


def _retrieval_task(task, path):
    from mmkeras.models import DualEncoder

    if not isinstance(task, DualEncoder):
        raise ValueError(
            f"{path} holds a {type(task).__name__}; index and search need a "
            "retrieval task (mmkeras train --task retrieve)."
        )
    return task


def _search(args):
    import os

    import numpy as np

    from mmkeras.models import load_gallery
    from mmkeras.models.gallery import check_width
    from mmkeras.models.gallery_search import search_numpy
    from mmkeras.training.trainer import load_task

    if bool(args.text) == bool(args.image):
        raise ValueError("Give one query: --text or --image.")
    query_modality = "text" if args.text else "image"
    model = args.model or os.path.join(args.index, "task.keras")
    task = _retrieval_task(load_task(model), model)
    (gallery_modality,) = [m for m in task.modalities if m != query_modality]
    gallery = load_gallery(os.path.join(args.index, gallery_modality))
    check_width(gallery.embeddings, task.embedding_dim, f"{args.index}")
    query = args.text if args.text else _read(args.image, "--image")
    if not query.strip():
        raise ValueError(f"The --{query_modality} query is empty.")
    embedding = np.asarray(task.embed(query_modality, [query]))
    scores, rows = search_numpy(embedding, gallery.embeddings, args.k)
    results = zip(scores[0], rows[0], strict=True)
    for rank, (score, row) in enumerate(results, start=1):
        item_id, path = gallery.ids[row], gallery.paths[row]
        # A caption's id is the caption itself: print it once.
        shown = path if item_id == path else f"{item_id}  {path}"
        print(f"{rank:>3}  {score:.4f}  {shown}")


def _pack(args):
    from mmkeras.data.manifest import read_manifest
    from mmkeras.data.packing import pack

    manifest = read_manifest(
        args.manifest,
        on_error="skip" if args.skip_bad_records else "raise",
        max_video_frames=args.max_video_frames,
    )
    _print_skipped(manifest.skipped)
    pack(manifest, args.output, num_shards=args.num_shards)
    print(f"Packed {len(manifest.records)} records into {args.output}")


def _summarize(args):
    from mmkeras.training.summary_report import summarize_clip
    from mmkeras.training.trainer import load_task
    from mmkeras.training.trainer import task_kind

    task = load_task(args.model)
    if task_kind(task) != "video_summary":
        raise ValueError(
            f"{args.model} holds a {type(task).__name__}; summarize needs a "
            "video summarizer (mmkeras train --task video_summary)."
        )
    summary = summarize_clip(
        task, args.video, args.output, args.query, args.strip
    )
    print("\n".join(summary.describe()))


def _status(args):
    from serving.client import PredictionClient

    with PredictionClient(args.server, timeout=args.timeout) as client:
        versions = client.status(args.model, version=args.version)
    for entry in versions:
        line = f"{args.model} version {entry['version']}: {entry['state']}"
        if entry["error_code"]:
            line += f" (error {entry['error_code']}: {entry['error_message']})"
        print(line)


def _add_train_parser(commands):
    train = commands.add_parser(
        "train",
        help="train a task from a manifest",
        description="Train a task from a manifest. Settings come from, "
        "lowest first: the defaults shown here, --config FILE, the flags "
        "given, then each --set KEY=VALUE. A run whose OUTPUT_DIR holds a "
        "backup (it was interrupted) resumes from it.",
    )
    train.add_argument(
        "--config",
        metavar="FILE",
        help="a JSON or YAML file of settings, keyed by the names --set "
        "takes (e.g. learning_rate: 0.001); a run's own config.json is one",
    )
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one setting, e.g. --set epochs=5 --set "
        "modalities=image,text (repeatable; wins over the file and flags)",
    )
    _setting(
        train,
        "--manifest",
        "",
        help="JSONL or pack dir; required, here, in --config or by --set",
    )
    _setting(
        train,
        "--output-dir",
        "",
        help="the run's directory; required, here, in --config or by --set",
    )
    _setting(train, "--task", "classify", choices=TASKS)
    _setting(
        train,
        "--modalities",
        "every modality field in the manifest",
        nargs="+",
        choices=MODALITIES,
    )
    model = train.add_argument_group("model")
    _setting(model, "--fusion", "attention", choices=FUSIONS)
    _setting(model, "--hidden-dim", 64, type=int)
    _setting(model, "--num-layers", 1, type=int)
    _setting(model, "--num-heads", 2, type=int)
    _setting(model, "--image-size", 32, type=int)
    _setting(model, "--sequence-length", 24, type=int)
    _setting(model, "--sample-rate", 8000, type=int)
    _setting(model, "--clip-seconds", 1.0, type=float)
    _setting(model, "--num-frames", 8, type=int)
    _setting(
        model, "--embedding-dim", 64, type=int, help="retrieve: shared width"
    )
    _setting(
        model,
        "--loss",
        "clip",
        choices=["clip", "sigmoid"],
        help="retrieve: InfoNCE (CLIP) or sigmoid (SigLIP)",
    )
    reg = train.add_argument_group("regularisation")
    _setting(reg, "--dropout", 0.1, type=float)
    _setting(reg, "--modality-dropout", 0.25, type=float)
    _setting(
        reg,
        "--auxiliary-loss-weight",
        1.0,
        type=float,
        help="weight of each modality's own head's loss (0: fused only)",
    )
    reg.add_argument(
        "--no-modality-evidence",
        dest="modality_evidence",
        action="store_false",
        default=argparse.SUPPRESS,
        help="do not add the modality heads' weighted evidence to the logits",
    )
    reg.add_argument(
        "--fusion-trains-encoders",
        dest="stop_fusion_gradients",
        action="store_false",
        default=argparse.SUPPRESS,
        help="let the fused loss train the encoders too (by default each "
        "encoder learns from its own head only)",
    )
    reg.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=argparse.SUPPRESS,
        help="random shifts, noise, gain and token drops (default: on for "
        "classify, off for retrieve)",
    )
    _setting(reg, "--weight-decay", 1e-4, type=float)
    _setting(
        reg,
        "--early-stopping",
        0,
        dest="early_stopping_patience",
        type=int,
        metavar="PATIENCE",
        help="stop after PATIENCE epochs without a better val_loss",
    )
    fit = train.add_argument_group("optimisation")
    _setting(fit, "--epochs", 20, type=int)
    _setting(fit, "--batch-size", 32, type=int)
    _setting(fit, "--learning-rate", 3e-3, type=float)
    _setting(
        fit,
        "--gradient-cache-chunk-size",
        None,
        type=int,
        metavar="PAIRS",
        help="retrieve: embed and backpropagate PAIRS at a time, so a large "
        "contrastive batch fits in memory (the same gradient)",
    )
    _setting(
        fit,
        "--gradient-accumulation-steps",
        None,
        type=int,
        metavar="N",
        help="update the weights every N batches, with their mean gradient",
    )
    _setting(
        fit,
        "--precision",
        "auto",
        choices=PRECISIONS,
        help="auto: mixed_bfloat16 on CPUs with AMX or AVX512_BF16 and on "
        "TPUs, mixed_float16 on tensor-core GPUs, else float32",
    )
    _setting(
        fit,
        "--jit-compile",
        "auto",
        choices=JIT_COMPILE,
        help="compile the training step under XLA; auto: on with GPUs or "
        "TPUs, off on CPU",
    )
    _setting(fit, "--seed", 0, type=int)
    fit.add_argument(
        "--deterministic",
        action="store_true",
        default=argparse.SUPPRESS,
        help="the same weights on every run of this machine (a little slower)",
    )
    _setting(
        fit,
        "--backup-every",
        "epoch",
        metavar="epoch|STEPS",
        help="back up the training state at each epoch's end, or also "
        "every STEPS steps",
    )
    scale = train.add_argument_group("several devices or machines")
    _setting(
        scale,
        "--strategy",
        "auto",
        choices=STRATEGIES,
        help="auto: multi-worker when TF_CONFIG names several workers "
        "(then --batch-size is per worker), else none; mirrored: this "
        "machine's GPUs",
    )
    _setting(
        scale,
        "--data-service",
        "",
        metavar="grpc://HOST:PORT",
        help="a tf.data service dispatcher whose workers read and "
        "preprocess the training data",
    )
    train.add_argument(
        "--skip-bad-records",
        action="store_true",
        default=argparse.SUPPRESS,
        help="skip (and list) bad manifest records instead of stopping",
    )
    _setting(
        train,
        "--verbose",
        "1 on a terminal, else 2",
        type=int,
        choices=[0, 1, 2],
        help="0 silent, 1 progress bar, 2 a line per epoch",
    )
    train.set_defaults(run=_train)


def _setting(group, flag, default, help=None, **kwargs):
    """A flag for a training setting: absent unless given, so that a
    config file's value stands; `default` (TrainConfig's) is only shown."""
    shown = f"default: {default}" if default != "" else ""
    if help and shown:
        help = f"{help} ({shown})"
    group.add_argument(
        flag, default=argparse.SUPPRESS, help=help or shown, **kwargs
    )


def _add_data_service_parser(commands):
    service = commands.add_parser(
        "data-service",
        help="run a tf.data service dispatcher or worker (train "
        "--data-service): input preprocessing on other machines",
    )
    service.add_argument("role", choices=["dispatcher", "worker"])
    service.add_argument("--port", type=int, default=0, help="0: any free")
    service.add_argument("--dispatcher", help="worker: HOST:PORT")
    service.add_argument(
        "--address",
        help="worker: the host trainers reach it at (default: localhost)",
    )
    service.set_defaults(run=_data_service)


def _add_evaluate_parser(commands):
    evaluate = commands.add_parser(
        "evaluate", help="measure a trained task on a split"
    )
    evaluate.add_argument("--model", required=True, help="training dir")
    evaluate.add_argument("--manifest", required=True)
    evaluate.add_argument("--split", default="test")
    evaluate.add_argument("--batch-size", type=int, default=64)
    evaluate.add_argument(
        "--server", help="HOST:PORT: measure the served model instead"
    )
    evaluate.add_argument("--model-name", help="the served model's name")
    evaluate.add_argument("--timeout", type=float, default=60.0)
    evaluate.add_argument("--skip-bad-records", action="store_true")
    evaluate.set_defaults(run=_evaluate)


def _add_export_parsers(commands):
    export = commands.add_parser(
        "export", help="export a trained task for TF Serving or devices"
    )
    export.add_argument("--training-dir", required=True)
    export.add_argument(
        "--format",
        default="saved_model",
        choices=["saved_model", "tflite"],
        help="saved_model: TF Serving layout; tflite: LiteRT, no Flex ops",
    )
    export.add_argument("--base-path", help="saved_model: models root")
    export.add_argument("--model-name", help="saved_model: the model's name")
    export.add_argument("--version", type=int, default=None)
    export.add_argument(
        "--quantize",
        default="none",
        choices=["none", "float16", "dynamic", "int8"],
        help="tflite: the variant written (the report measures all)",
    )
    export.add_argument("--output", help="tflite: the .tflite file to write")
    export.add_argument(
        "--gallery",
        help="retrieve: an `mmkeras index` directory; adds the search "
        "signature, with the gallery inside the version",
    )
    export.add_argument(
        "--manifest",
        help="held-out, calibration and warmup data (default: the "
        "training run's manifest)",
    )
    limits = export.add_argument_group(
        "decode limits (saved_model; default: from the model's input sizes)"
    )
    limits.add_argument("--max-pixels", type=int, help="per image or frame")
    limits.add_argument("--max-batch-pixels", type=int, help="per request")
    limits.add_argument("--max-frames", type=int, help="per video clip")
    limits.add_argument("--max-audio-samples", type=int, help="per WAV clip")
    limits.add_argument("--max-text-bytes", type=int, help="per text")
    export.add_argument(
        "--warmup-examples",
        type=int,
        default=8,
        metavar="N",
        help="saved_model: warmup requests from the first N training "
        "records (0: none)",
    )
    export.set_defaults(run=_export)

    check = commands.add_parser(
        "check-export",
        help="list an export's ops; fail on any a TF Serving release lacks",
    )
    check.add_argument(
        "directory", help="a version or model directory, or a .tflite file"
    )
    check.add_argument(
        "--tf-serving",
        default=TF_SERVING_RELEASE,
        metavar="RELEASE",
        help="target TF Serving release (default: %(default)s)",
    )
    check.add_argument(
        "--prefer-tflite-model",
        action="store_true",
        help="the server runs model.tflite, as with --prefer_tflite_model",
    )
    check.set_defaults(run=_check_export)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="mmkeras", description="Multimodal Keras models, end to end."
    )
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks of errors"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser(
        "make-demo-data", help="write the synthetic multimodal dataset"
    )
    data.add_argument("directory")
    data.add_argument(
        "--task",
        default="classify",
        choices=TASKS,
        help="classify: the noisy multimodal set; retrieve: image-caption "
        "scenes; speech: spoken digits and commands (eSpeak NG); "
        "video_summary: clips of shots with events, annotated",
    )
    data.add_argument(
        "--speech-engine",
        default="espeak",
        choices=["espeak", "tones"],
        help="speech: eSpeak NG voices, or tone speech (each character a "
        "pair of tones)",
    )
    data.add_argument(
        "--examples",
        type=int,
        default=None,
        help="classify: examples (default 1800); retrieve: training images "
        "(default 8000); speech: clips per voice (default 120); "
        "video_summary: clips (default 160)",
    )
    data.add_argument(
        "--test-images",
        type=int,
        default=1000,
        help="retrieve: images in each of the test and validation splits",
    )
    data.add_argument("--seed", type=int, default=0)
    data.add_argument(
        "--modalities",
        nargs="+",
        choices=MODALITIES,
        default=["audio", "image", "text"],
    )
    data.set_defaults(run=_make_demo_data)

    pack = commands.add_parser(
        "pack", help="write a manifest's files as sharded TFRecords"
    )
    pack.add_argument("--manifest", required=True)
    pack.add_argument("--output", required=True)
    pack.add_argument("--num-shards", type=int, default=None)
    pack.add_argument(
        "--max-video-frames",
        type=int,
        default=None,
        help="keep this many frames of each clip, sampled uniformly (the "
        "model's --num-frames); default: every frame",
    )
    pack.add_argument("--skip-bad-records", action="store_true")
    pack.set_defaults(run=_pack)

    _add_train_parser(commands)
    _add_data_service_parser(commands)
    _add_evaluate_parser(commands)

    _add_export_parsers(commands)

    index = commands.add_parser(
        "index", help="embed a manifest's items into a search gallery"
    )
    index.add_argument("--model", required=True, help="training dir")
    index.add_argument("--manifest", required=True)
    index.add_argument("--output", required=True, help="gallery directory")
    index.add_argument("--batch-size", type=int, default=64)
    index.set_defaults(run=_index)

    search = commands.add_parser(
        "search", help="search a gallery with a caption or an image"
    )
    search.add_argument("--index", required=True, help="gallery directory")
    search.add_argument("--text", help="find images for this caption")
    search.add_argument("--image", help="find captions for this image file")
    search.add_argument("-k", type=int, default=5, help="results to show")
    search.add_argument(
        "--model", help="training dir (default: the gallery's own model)"
    )
    search.set_defaults(run=_search)

    predict = commands.add_parser(
        "predict", help="query a served classifier over gRPC"
    )
    predict.add_argument("--server", required=True, help="HOST:PORT")
    predict.add_argument("--model", required=True, help="served model name")
    predict.add_argument("--image", help="an image file")
    predict.add_argument("--text", help="a caption")
    predict.add_argument("--audio", help="a WAV file")
    predict.add_argument("--video", help="a clip, GIF or folder of frames")
    predict.add_argument("--timeout", type=float, default=30.0)
    predict.set_defaults(run=_predict)

    summarize = commands.add_parser(
        "summarize", help="summarise a clip into a shorter video"
    )
    summarize.add_argument("video", help="a clip, GIF or folder of frames")
    summarize.add_argument("--model", required=True, help="training dir")
    summarize.add_argument("--query", help="what the summary is about")
    summarize.add_argument(
        "--output", required=True, help="the summary video: .mp4 or .gif"
    )
    summarize.add_argument(
        "--strip", help="PNG strip of scored frames (default: beside --output)"
    )
    summarize.set_defaults(run=_summarize)

    transcribe = commands.add_parser(
        "transcribe", help="transcribe WAV files with a speech task"
    )
    transcribe.add_argument("files", nargs="+", metavar="FILE.wav")
    transcribe.add_argument("--model", help="training dir (local model)")
    transcribe.add_argument("--server", help="HOST:PORT of a model server")
    transcribe.add_argument("--model-name", help="the served model's name")
    transcribe.add_argument(
        "--decoder",
        default="greedy",
        choices=["greedy", "beam", "beam_lm", "auto"],
        help="beam search (with the task's LM: beam_lm) needs --model; "
        "word times always come from the greedy alignment",
    )
    transcribe.add_argument("--timeout", type=float, default=30.0)
    transcribe.set_defaults(run=_transcribe)

    status = commands.add_parser(
        "status", help="show a served model's versions and their states"
    )
    status.add_argument("--server", required=True, help="HOST:PORT")
    status.add_argument("--model", required=True)
    status.add_argument("--version", type=int, default=None)
    status.add_argument("--timeout", type=float, default=30.0)
    status.set_defaults(run=_status)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    import_tensorflow_quietly()
    import grpc
    import tensorflow as tf

    # A user's mistakes: bad values and files, data the graph rejects, a
    # server's refusal, and a training loss that became NaN (too high a
    # learning rate). Anything else is a bug and keeps its traceback.
    user_errors = (
        ValueError,
        OSError,
        grpc.RpcError,
        tf.errors.OpError,
        FloatingPointError,
    )
    try:
        args.run(args)
    except user_errors as error:
        if args.debug:
            raise
        sys.exit(f"mmkeras {args.command}: error: {_describe(error)}")


def _describe(error):
    import grpc
    import tensorflow as tf

    if isinstance(error, grpc.RpcError):
        return f"{error.code().name}: {error.details()}"
    if isinstance(error, tf.errors.OpError):
        return error.message.splitlines()[0]
    return str(error) or type(error).__name__


if __name__ == "__main__":
    main()
