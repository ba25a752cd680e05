"""A run's training curves as one PNG, drawn with Pillow from its history."""

import math

from mmkeras.training.callbacks import read_history

PANEL_SIZE = (320, 200)
MARGIN = (52, 26, 12, 28)  # left, top, right, bottom, in pixels
COLUMNS = 3
TRAINING_COLOUR = (31, 119, 180)
VALIDATION_COLOUR = (255, 127, 14)
AXIS_COLOUR = (90, 90, 90)
GRID_COLOUR = (225, 225, 225)


def curve_panels(history):
    """The panels to draw: `(title, {label: values})` for the loss (with
    `val_loss`), then every other validation metric, with its training
    counterpart when there is one. Columns without a finite value (such
    as `CSVLogger`'s "NA" columns of a run without validation) are left
    out.

    Args:
        history: dict of column name to list of floats.
    """
    shown = {
        name: values
        for name, values in history.items()
        if name != "epoch" and any(math.isfinite(v) for v in values)
    }
    names = ["loss"] + sorted(
        name.removeprefix("val_")
        for name in shown
        if name.startswith("val_") and name != "val_loss"
    )
    panels = []
    for name in names:
        lines = {
            label: shown[key]
            for label, key in (
                ("training", name),
                ("validation", f"val_{name}"),
            )
            if key in shown
        }
        if lines:
            panels.append((name, lines))
    return panels


def draw_curves(history_path, image_path):
    """Draws a CSV history (`CSVLogger`'s file) as a grid of line charts.

    One panel per `curve_panels` entry, training in blue and validation
    in orange, each with its value range and epochs on the axes.

    Args:
        history_path: str. The CSV file.
        image_path: str. The PNG to write.

    Returns:
        The number of panels drawn (0, and no file, for an empty history).
    """
    from PIL import Image
    from PIL import ImageDraw

    history = read_history(history_path)
    panels = curve_panels(history)
    if not panels:
        return 0
    epochs = [int(e) + 1 for e in history["epoch"]]
    columns = min(COLUMNS, len(panels))
    rows = -(-len(panels) // columns)
    width, height = PANEL_SIZE
    image = Image.new("RGB", (columns * width, rows * height), "white")
    draw = ImageDraw.Draw(image)
    for index, (title, lines) in enumerate(panels):
        origin = ((index % columns) * width, (index // columns) * height)
        _draw_panel(draw, origin, title, epochs, lines)
    image.save(image_path)
    return len(panels)


def _draw_panel(draw, origin, title, epochs, lines):
    left, top, right, bottom = MARGIN
    x0, y0 = origin[0] + left, origin[1] + top
    x1 = origin[0] + PANEL_SIZE[0] - right
    y1 = origin[1] + PANEL_SIZE[1] - bottom
    values = [
        v for series in lines.values() for v in series if math.isfinite(v)
    ]
    low, high = min(values), max(values)
    if high == low:
        low, high = low - 0.5, high + 0.5
    first, last = epochs[0], epochs[-1]
    span = max(last - first, 1)

    def point(epoch, value):
        x = x0 + (epoch - first) / span * (x1 - x0)
        y = y1 - (value - low) / (high - low) * (y1 - y0)
        return x, y

    for fraction in (0.25, 0.5, 0.75):
        y = y1 - fraction * (y1 - y0)
        draw.line([(x0, y), (x1, y)], fill=GRID_COLOUR)
    draw.rectangle([x0, y0, x1, y1], outline=AXIS_COLOUR)
    draw.text((origin[0] + left, origin[1] + 6), title, fill="black")
    draw.text((origin[0] + 4, y0 - 4), _short(high), fill=AXIS_COLOUR)
    draw.text((origin[0] + 4, y1 - 8), _short(low), fill=AXIS_COLOUR)
    draw.text((x0, y1 + 6), f"epoch {first}", fill=AXIS_COLOUR)
    draw.text((x1 - 24, y1 + 6), str(last), fill=AXIS_COLOUR)
    legend_x = x1 - 150
    for label, series in lines.items():
        colour = TRAINING_COLOUR if label == "training" else VALIDATION_COLOUR
        points = [
            point(e, v)
            for e, v in zip(epochs, series, strict=True)
            if math.isfinite(v)
        ]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for x, y in points:
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        draw.text((legend_x, origin[1] + 6), label, fill=colour)
        legend_x += 75


def _short(value):
    return f"{value:.4g}"
