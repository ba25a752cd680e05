"""The `mmkeras` command: demo data, training, export and prediction."""

import argparse
import sys


def _make_demo_data(args):
    from mmkeras.data.synthetic import write_dataset

    path = write_dataset(args.directory, args.examples, seed=args.seed)
    print(f"Wrote {args.examples} examples; manifest: {path}")


def _train(args):
    from mmkeras.training.trainer import TrainConfig
    from mmkeras.training.trainer import train

    config = TrainConfig(
        manifest=args.manifest,
        output_dir=args.output_dir,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        precision=args.precision,
        seed=args.seed,
        skip_bad_records=args.skip_bad_records,
    )
    result = train(config)
    print(f"Saved model and preprocessor to {result.output_dir}")


def _export(args):
    from mmkeras.export.saved_model import export_classifier
    from mmkeras.training.trainer import load_training_outputs

    classifier, preprocessor, _ = load_training_outputs(args.training_dir)
    path = export_classifier(
        classifier, preprocessor, args.base_path, args.model_name, args.version
    )
    print(f"Exported SavedModel to {path}")


def _predict(args):
    import grpc

    from mmkeras.remote import predict_raw
    from mmkeras.remote import read_bytes
    from serving.client import PredictionClient

    try:
        image = read_bytes(args.image)
    except OSError as error:
        sys.exit(f"mmkeras predict: cannot read --image: {error}")
    with PredictionClient(args.server, timeout=args.timeout) as client:
        try:
            outputs = predict_raw(client, args.model, [image], [args.text])
        except grpc.RpcError as error:
            sys.exit(
                f"mmkeras predict: {error.code().name} from {args.server}: "
                f"{error.details()}"
            )
    probabilities = outputs["probabilities"][0]
    print(f"class_id: {int(outputs['class_ids'][0])}")
    print("probabilities: " + " ".join(f"{p:.4f}" for p in probabilities))
    print(
        "modality_weights (sorted modality order): "
        + " ".join(f"{w:.4f}" for w in outputs["modality_weights"][0])
    )


def _status(args):
    import grpc

    from serving.client import PredictionClient

    with PredictionClient(args.server, timeout=args.timeout) as client:
        try:
            versions = client.status(args.model, version=args.version)
        except grpc.RpcError as error:
            sys.exit(
                f"mmkeras status: {error.code().name} from {args.server}: "
                f"{error.details()}"
            )
    for entry in versions:
        line = f"{args.model} version {entry['version']}: {entry['state']}"
        if entry["error_code"]:
            line += f" (error {entry['error_code']}: {entry['error_message']})"
        print(line)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="mmkeras", description="Multimodal Keras models, end to end."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser(
        "make-demo-data", help="write the synthetic image-caption dataset"
    )
    data.add_argument("directory")
    data.add_argument("--examples", type=int, default=1800)
    data.add_argument("--seed", type=int, default=0)
    data.set_defaults(run=_make_demo_data)

    train = commands.add_parser("train", help="train a classifier")
    train.add_argument("--manifest", required=True)
    train.add_argument("--output-dir", required=True)
    train.add_argument("--epochs", type=int, default=12)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--learning-rate", type=float, default=3e-3)
    train.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "float32", "mixed_float16", "mixed_bfloat16"],
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--skip-bad-records",
        action="store_true",
        help="skip (and report) bad manifest records instead of stopping",
    )
    train.set_defaults(run=_train)

    export = commands.add_parser(
        "export", help="export a trained model for TF Serving"
    )
    export.add_argument("--training-dir", required=True)
    export.add_argument("--base-path", required=True)
    export.add_argument("--model-name", required=True)
    export.add_argument("--version", type=int, default=None)
    export.set_defaults(run=_export)

    predict = commands.add_parser(
        "predict", help="query a served model over gRPC"
    )
    predict.add_argument("--server", required=True, help="HOST:PORT")
    predict.add_argument("--model", required=True)
    predict.add_argument("--image", required=True, help="PNG or JPEG file")
    predict.add_argument("--text", required=True)
    predict.add_argument("--timeout", type=float, default=30.0)
    predict.set_defaults(run=_predict)

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
    args.run(args)


if __name__ == "__main__":
    main()
