import json
import os

import keras
import pytest
import tensorflow as tf

from mmkeras.data.manifest import ManifestError
from mmkeras.data.synthetic_scenes import write_retrieval_dataset
from mmkeras.metrics import chance_metrics
from mmkeras.models import dual_encoder
from mmkeras.preprocessing import learn_vocabulary
from mmkeras.training import retrieval_report
from mmkeras.training.callbacks import best_value
from mmkeras.training.callbacks import read_history
from mmkeras.training.retrieval import RetrievalValidation
from mmkeras.training.retrieval import read_pairs
from mmkeras.training.trainer import TrainConfig
from mmkeras.training.trainer import train


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    directory = tmp_path_factory.mktemp("scenes")
    summary = write_retrieval_dataset(
        directory,
        num_train_images=40,
        num_validation_images=10,
        num_test_images=10,
    )
    return summary.manifest_path


def _write(path, records):
    with open(path, "w") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
    return str(path)


def _png(path):
    tf.io.write_file(str(path), tf.io.encode_png(tf.zeros((4, 4, 3), "uint8")))
    return os.path.basename(path)


def test_records_naming_one_file_are_one_image(tmp_path):
    a, b = _png(tmp_path / "a.png"), _png(tmp_path / "b.png")
    manifest = _write(
        tmp_path / "m.jsonl",
        [
            {"image": a, "text": "one"},
            {"image": a, "text": "two", "extra": 1},
            {"image": b, "text": "three"},
            {"image": b, "text": "four", "image_id": "chosen"},
        ],
    )
    pairs = read_pairs(manifest)
    ids = [r["image_id"] for r in pairs.records]
    assert ids[0] == ids[1] == str(tmp_path / "a.png")
    assert ids[2] == str(tmp_path / "b.png") and ids[3] == "chosen"
    assert pairs.target_fields == ("image_id",)


def test_a_record_without_its_caption_is_named_by_line(tmp_path):
    a = _png(tmp_path / "a.png")
    records = [{"image": a, "text": "one"}, {"image": a}]
    manifest = _write(tmp_path / "m.jsonl", records)
    with pytest.raises(ManifestError, match=r"m.jsonl line 2: .*no text"):
        read_pairs(manifest)
    skipped = read_pairs(manifest, skip_bad_records=True).skipped
    assert [s.line for s in skipped] == [2]


def test_a_manifest_of_one_modality_is_not_pairs(tmp_path):
    manifest = _write(tmp_path / "m.jsonl", [{"text": "only words"}])
    with pytest.raises(ManifestError, match="pairs of two modalities"):
        read_pairs(manifest)


def _tiny_task(texts):
    return dual_encoder(
        vocabulary=learn_vocabulary(texts),
        embedding_dim=8,
        hidden_dim=8,
        image_size=48,
        sequence_length=32,
    )


def test_validation_metrics_reach_the_logs_and_tensorboard(scenes, tmp_path):
    pairs = read_pairs(scenes)
    validation = pairs.split("validation")
    task = _tiny_task([r["text"] for r in pairs.records])
    task.compile()
    features, keys = task.preprocessor(
        {
            "image": tf.constant(
                [open(r["image"], "rb").read() for r in validation]
            ),
            "text": tf.constant([r["text"] for r in validation]),
            "image_id": tf.constant([r["image_id"] for r in validation]),
        }
    )
    logs_dir = tmp_path / "logs"
    history = task.fit(
        features,
        keys,
        epochs=1,
        verbose=0,
        callbacks=[
            RetrievalValidation(validation, batch_size=8),
            keras.callbacks.TensorBoard(str(logs_dir)),
        ],
    )
    recall = history.history["val_text_to_image_r1"][0]
    assert 0.0 <= recall <= 1.0
    assert "val_image_to_text_median_rank" in history.history
    # TensorBoard files `val_` metrics under validation/, unprefixed.
    tags = set()
    for name in os.listdir(logs_dir / "validation"):
        for event in tf.data.TFRecordDataset(
            str(logs_dir / "validation" / name)
        ):
            parsed = tf.compat.v1.Event.FromString(event.numpy())
            tags.update(v.tag for v in parsed.summary.value)
    assert "epoch_text_to_image_r1" in tags


def test_train_retrieve_saves_a_task_and_validates_every_epoch(
    scenes, tmp_path
):
    result = train(
        TrainConfig(
            manifest=scenes,
            output_dir=str(tmp_path / "run"),
            task="retrieve",
            hidden_dim=8,
            embedding_dim=8,
            image_size=48,
            sequence_length=32,
            epochs=2,
            batch_size=16,
            verbose=0,
        )
    )
    assert len(result.history["val_text_to_image_mrr"]) == 2
    # Full-gallery metrics reach the CSV history, and choose best.keras.
    history = read_history(str(tmp_path / "run" / "history.csv"))
    recall = history["val_text_to_image_r1"]
    assert recall == pytest.approx(result.history["val_text_to_image_r1"])
    best = str(tmp_path / "run" / "best.keras")
    assert best_value(best, "val_text_to_image_r1") == pytest.approx(
        max(recall)
    )
    reloaded = keras.saving.load_model(str(tmp_path / "run" / "task.keras"))
    assert reloaded.metadata["train_config"]["task"] == "retrieve"
    assert reloaded.logit_scale.loss == "clip"


def test_report_lines_show_chance_beside_each_metric(scenes):
    test = read_pairs(scenes).split("test")
    chance = retrieval_report.chance_of(test, "image_id")
    assert chance == chance_metrics(10, 2)
    metrics = {**chance, "text_to_image_r1": 0.85, "text_to_image_r10": 0.97}
    table = retrieval_report.metric_lines(metrics, chance)
    assert table[1].split() == [
        "R@1",
        "0.8500",
        "0.1000",
        f"{chance['image_to_text_r1']:.4f}",
        f"{chance['image_to_text_r1']:.4f}",
    ]
    assert retrieval_report.goal_lines(metrics) == [
        "  text_to_image_r1 0.8500 (goal >= 0.8): met",
        "  text_to_image_r10 0.9700 (goal >= 0.98): NOT met",
    ]


def test_query_sheet_draws_five_queries_with_their_true_ranks(scenes, tmp_path):
    pairs = read_pairs(scenes)
    test = pairs.split("test")
    task = _tiny_task([r["text"] for r in pairs.records])
    path = str(tmp_path / "sheet.png")
    ranks = retrieval_report.query_sheet(task, test, path)
    assert len(ranks) == 5
    assert all(1 <= rank <= 10 for _, rank in ranks)
    assert {caption for caption, _ in ranks} <= {r["text"] for r in test}
    sheet = tf.io.decode_png(tf.io.read_file(path))
    assert sheet.shape[0] == 5 * (96 + 12) and sheet.shape[2] == 3


def test_training_warns_when_captions_are_cut(scenes, caplog):
    from mmkeras.training.trainer import _warn_if_truncated

    captions = [r["text"] for r in read_pairs(scenes).records]
    with caplog.at_level("WARNING", logger="mmkeras.training.trainer"):
        for length in (36, 8):
            task = dual_encoder(
                vocabulary=learn_vocabulary(captions),
                hidden_dim=8,
                sequence_length=length,
            )
            config = TrainConfig(
                manifest=scenes, output_dir="", sequence_length=length
            )
            _warn_if_truncated(task, captions, config)
    (record,) = caplog.records
    assert "longer than sequence_length=8 word pieces" in record.getMessage()
    assert "raise --sequence-length" in record.getMessage()
