"""`mmkeras summarize`: a clip's summary as a video and a strip of frames.

`summarize_clip` reads a clip (MP4/WebM/..., GIF or a folder of frames),
runs the task's summary (the serving signatures' computation: sampled
frames scored, KTS shots, knapsack), writes the summary's frames as a
video (`.mp4`, `.gif`, ...) and draws a PNG strip of the sampled frames
with their scores, the shot cuts and the chosen shots.
"""

import dataclasses
import io
import os

import av
import numpy as np
import tensorflow as tf

from mmkeras.data import media

DEFAULT_FPS = 12
THUMBNAIL = 48
BAR_HEIGHT = 40
CHOSEN = (40, 200, 80)
CUT = (255, 255, 255)


@dataclasses.dataclass
class ClipSummary:
    """What `summarize_clip` found and wrote.

    Attributes:
        num_frames: int. The clip's frames.
        read_frames: int. Frames read (fewer when the clip is longer than
            the model's `max_frames` and was sampled down).
        outputs: dict of numpy arrays, `VideoSummarizer.summarize`'s
            (frame indices among the frames read).
        selected_frames: int array, the summary's frames in the clip.
        video_path: str. The summary video.
        strip_path: str. The PNG strip.
    """

    num_frames: int
    read_frames: int
    outputs: dict
    selected_frames: np.ndarray
    video_path: str
    strip_path: str

    def describe(self):
        """Lines for the terminal: the sampling, the shots, the summary."""
        outputs = self.outputs
        lines = []
        if self.read_frames < self.num_frames:
            lines.append(
                f"The clip has {self.num_frames} frames, more than the "
                f"model's max_frames; {self.read_frames} were read, sampled "
                "uniformly."
            )
        lines.append(
            f"Scored {len(outputs['frame_scores'])} sampled frames of "
            f"{self.num_frames}; {len(outputs['shot_boundaries'])} shots."
        )
        share = len(self.selected_frames) / self.num_frames
        chosen = ", ".join(str(s) for s in outputs["selected_shots"])
        lines.append(
            f"Summary: {len(self.selected_frames)} frames ({share:.0%}), "
            f"shots {chosen or 'none'}; video {self.video_path}, strip "
            f"{self.strip_path}"
        )
        return lines


def clip_rate(path):
    """A clip's frames per second (DEFAULT_FPS for folders and clips that
    do not say)."""
    if os.path.isdir(path):
        return DEFAULT_FPS
    with av.open(path) as container:
        rate = container.streams.video[0].average_rate
    return float(rate) if rate else DEFAULT_FPS


def read_clip(path, max_frames):
    """`(encoded frames, the clip's frame count)`, at most `max_frames`
    read (sampled uniformly); ValueError for an empty or unreadable clip
    or frames of different sizes."""
    try:
        frames = media.read_video_frames(path)
    except media.MediaError as error:
        raise ValueError(f"{path}: {error}") from None
    count = len(frames)
    if count == 0:
        raise ValueError(f"{path}: the clip has no frames.")
    sizes = {media.image_size_from_header(f) for f in frames}
    if len(sizes) > 1:
        listed = ", ".join(f"{w}x{h}" for w, h in sorted(sizes))
        raise ValueError(
            f"{path}: its frames have different sizes ({listed}); a clip's "
            "frames must all have one size."
        )
    kept = media.uniform_frame_indices(count, max_frames)
    return [frames[i] for i in kept], count, kept


def summarize_clip(task, path, output, query=None, strip_path=None):
    """Summarises a clip file; writes the summary video and the strip.

    Args:
        task: a `VideoSummarizer`.
        path: str. A clip, GIF or folder of frames.
        output: str. The summary video (`.mp4`, `.gif`, `.webm`, ...).
        query: str or None. The summary's query (a task with queries).
        strip_path: str or None. The PNG strip (None: beside `output`,
            `<name>.strip.png`).

    Returns:
        A `ClipSummary`.
    """
    if query and task.preprocessor.tokenizer is None:
        raise ValueError(
            "This model was trained without queries; summarise without --query."
        )
    if os.path.splitext(output)[1].lower() not in media.CLIP_EXTENSIONS:
        raise ValueError(
            f"--output {output}: expected one of {media.CLIP_EXTENSIONS}."
        )
    max_frames = task.preprocessor.video_preprocessor.max_frames
    frames, count, kept = read_clip(path, max_frames)
    outputs = {k: v.numpy() for k, v in task.summarize(frames, query).items()}
    selected = np.asarray(kept)[outputs["selected_frames"]]
    if not len(selected):
        raise ValueError(
            f"{path}: no shot fits the summary's budget "
            f"({task.budget:.0%} of {count} frames); nothing to write."
        )
    pixels = np.stack([_decode(frames[i]) for i in outputs["selected_frames"]])
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    try:
        media.write_video(output, pixels, clip_rate(path))
    except media.MediaError as error:
        raise ValueError(f"--output {output}: {error}") from None
    strip_path = strip_path or os.path.splitext(output)[0] + ".strip.png"
    draw_strip(frames, outputs, strip_path)
    return ClipSummary(
        count, len(frames), outputs, selected, output, strip_path
    )


def _decode(encoded):
    return tf.io.decode_image(
        encoded, channels=3, expand_animations=False
    ).numpy()


def draw_strip(frames, outputs, path):
    """A PNG: the sampled frames in order, each over a bar of its score;
    chosen shots framed in green, shot cuts as white lines."""
    from PIL import Image
    from PIL import ImageDraw

    indices = outputs["frame_indices"]
    scores = outputs["frame_scores"]
    chosen = np.zeros(len(frames), bool)
    chosen[outputs["selected_frames"]] = True
    starts = set(outputs["shot_boundaries"][1:, 0].tolist())
    width = THUMBNAIL * len(indices)
    strip = Image.new("RGB", (width, THUMBNAIL + BAR_HEIGHT + 4), (20, 20, 20))
    draw = ImageDraw.Draw(strip)
    previous = -1
    for slot, (index, score) in enumerate(zip(indices, scores, strict=True)):
        left = slot * THUMBNAIL
        image = Image.open(io.BytesIO(frames[index])).convert("RGB")
        strip.paste(image.resize((THUMBNAIL, THUMBNAIL)), (left, 0))
        if chosen[index]:
            draw.rectangle(
                [left, 0, left + THUMBNAIL - 1, THUMBNAIL - 1],
                outline=CHOSEN,
                width=3,
            )
        top = THUMBNAIL + 4 + int((1 - float(score)) * BAR_HEIGHT)
        draw.rectangle(
            [left + 4, top, left + THUMBNAIL - 5, THUMBNAIL + 4 + BAR_HEIGHT],
            fill=CHOSEN if chosen[index] else (150, 150, 150),
        )
        if any(previous < s <= index for s in starts):
            draw.line([left, 0, left, THUMBNAIL + BAR_HEIGHT + 4], CUT, 2)
        previous = index
    strip.save(path)
    return path
