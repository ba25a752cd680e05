"""Training curves drawn from a CSV history."""

from PIL import Image

from mmkeras.training.curves import TRAINING_COLOUR
from mmkeras.training.curves import VALIDATION_COLOUR
from mmkeras.training.curves import curve_panels
from mmkeras.training.curves import draw_curves

NAN = float("nan")


def test_the_loss_then_every_validation_metric_with_its_training_twin():
    history = {
        "epoch": [0.0, 1.0],
        "loss": [2.0, 1.0],
        "val_loss": [2.5, 1.5],
        "accuracy": [0.2, 0.4],
        "val_accuracy": [0.1, 0.3],
        "val_text_to_image_r1": [0.05, 0.2],
        "learning_rate": [0.1, 0.05],  # not a validation metric: not drawn
    }
    panels = curve_panels(history)
    assert [title for title, _ in panels] == [
        "loss",
        "accuracy",
        "text_to_image_r1",
    ]
    assert panels[1][1] == {"training": [0.2, 0.4], "validation": [0.1, 0.3]}
    assert list(panels[2][1]) == ["validation"]


def test_columns_without_a_value_are_left_out():
    # CSVLogger writes "NA" val_ columns for a run without validation.
    history = {"epoch": [0.0], "loss": [1.0], "val_loss": [NAN]}
    assert curve_panels(history) == [("loss", {"training": [1.0]})]


def test_draw_curves_writes_a_grid_of_panels(tmp_path):
    csv_path = tmp_path / "history.csv"
    csv_path.write_text(
        "epoch,accuracy,loss,val_accuracy,val_loss,val_r1,val_r5,val_mrr\n"
        "0,0.2,2.0,0.1,2.5,0.1,0.3,0.2\n"
        "1,0.4,1.0,0.3,NA,0.2,0.5,0.3\n"
        "2,0.5,0.8,0.4,1.2,0.3,0.6,0.4\n"
    )
    path = tmp_path / "curves.png"
    assert draw_curves(str(csv_path), str(path)) == 5
    with Image.open(path) as image:
        assert image.size == (3 * 320, 2 * 200)
        colours = {colour for _, colour in image.getcolors(1 << 16)}
    assert TRAINING_COLOUR in colours and VALIDATION_COLOUR in colours


def test_an_empty_history_draws_nothing(tmp_path):
    csv_path = tmp_path / "history.csv"
    csv_path.write_text("epoch,loss\n")
    assert draw_curves(str(csv_path), str(tmp_path / "c.png")) == 0
    assert not (tmp_path / "c.png").exists()
