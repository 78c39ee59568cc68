"""A training run's history as the points of small SVG line charts.

static/js/training-run.js draws the same charts from the same history while the run is
going; the scales here and there must agree (WIDTH, HEIGHT, PAD and the y range rule)."""

from dataclasses import dataclass, field

from trainer.ml.methods import METHODS

WIDTH, HEIGHT, PAD = 600, 180, 8


@dataclass
class Series:
    name: str  # "train" or "eval": the CSS class and the data-series of the polyline
    label: str
    values: list[tuple[int, float]]  # (step, value)
    points: str = ""  # "x,y x,y ..." in the chart's coordinates
    dots: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class Chart:
    key: str  # "loss" or "accuracy"
    title: str
    series: list[Series]
    low: float = 0.0
    high: float = 1.0
    empty: bool = True

    view_box = f"0 0 {WIDTH} {HEIGHT}"
    baseline = HEIGHT - PAD
    left, right = PAD, WIDTH - PAD

    @property
    def summary(self) -> str:
        """The chart in words, for screen readers and for a glance."""
        parts = []
        for series in self.series:
            ends = dict.fromkeys([series.values[0], series.values[-1]]) if series.values else {}
            if ends:
                shown = ", ".join(f"{value:.4g} at step {step}" for step, value in ends)
                parts.append(f"{series.label}: {shown}")
        return "; ".join(parts) or "No values yet."


def _eval_values(history: list[dict], suffix: str) -> list[tuple[int, float]]:
    found = []
    for record in history:
        evaluation = record.get("eval") or {}
        for name in sorted(evaluation):
            if name.endswith(suffix) and isinstance(evaluation[name], int | float):
                found.append((record["step"], float(evaluation[name])))
                break
    return found


def _place(chart: Chart, x_max: int, fixed: tuple[float, float] | None) -> Chart:
    values = [v for series in chart.series for _, v in series.values]
    if not values:
        return chart
    low, high = fixed or (min(values), max(values))
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    x_max = max([x_max, 1, *(step for series in chart.series for step, _ in series.values)])

    def point(step: int, value: float) -> tuple[float, float]:
        x = PAD + step / x_max * (WIDTH - 2 * PAD)
        y = PAD + (high - value) / (high - low) * (HEIGHT - 2 * PAD)
        return round(x, 1), round(y, 1)

    for series in chart.series:
        series.dots = [point(step, value) for step, value in series.values]
        series.points = " ".join(f"{x},{y}" for x, y in series.dots)
    chart.low, chart.high, chart.empty = low, high, False
    return chart


# What a chart of a method's own metric (`TrainingMethod.charts`) is called.
TITLES = {"kl": "KL to the reference", "reply_length": "Reply length (tokens)"}


def record_values(history: list[dict], name: str) -> list[tuple[int, float]]:
    return [
        (record["step"], float(record[name]))
        for record in history
        if isinstance(record.get(name), int | float)
    ]


def metric_chart(history: list[dict], name: str, total_steps: int) -> Chart:
    """A method's own metric by step: as its progress records report it, and as each
    evaluation does (`validation_<name>` or `train_<name>`)."""
    title = TITLES.get(name, name.replace("_", " ").capitalize())
    words = title.lower()
    series = [
        Series("train", f"training {words}", record_values(history, name)),
        Series("eval", f"held-out {words}", _eval_values(history, f"_{name}")),
    ]
    return _place(Chart(name, title, series), total_steps, None)


def run_charts(history: list[dict], *, total_steps: int, kind: str) -> list[Chart]:
    """Loss (training, and held-out at each evaluation) by step, the held-out accuracy
    of a method whose evaluation reports one (a reward model's does; SFT has none), and
    the charts of the method's own metrics (RL's reward and KL)."""
    train_loss = record_values(history, "loss")
    loss = Chart(
        "loss",
        "Loss",
        [
            Series("train", "training loss", train_loss),
            Series("eval", "held-out loss", _eval_values(history, "_loss")),
        ],
    )
    accuracy = Chart(
        "accuracy",
        "Accuracy",
        [Series("eval", "held-out accuracy", _eval_values(history, "_accuracy"))],
    )
    charts = [_place(loss, total_steps, None)]
    method = METHODS.get(kind)
    if method is not None and any(name.endswith("_accuracy") for name in method.metrics):
        charts.append(_place(accuracy, total_steps, (0.0, 1.0)))
    for name in method.charts if method is not None else ():
        charts.append(metric_chart(history, name, total_steps))
    return charts
