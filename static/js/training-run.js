// A training run's page while the run goes on: progress, time left, curves, metrics and
// logs from /api/training-runs/<id>/ every second. The curves are drawn as
// trainer/curves.py draws them on the server; PAD and the y range rule must agree.
import { follow, replaceFromPage, showStatus } from "./job-follow.js";

const run = document.querySelector("[data-run-url]");
const PAD = 8;

function timeLeft(data) {
  if (data.eta_s === null || data.eta_s === undefined) return "time left not known yet";
  if (data.eta_s < 90) return `about ${Math.round(data.eta_s)} s left`;
  return `about ${Math.round(data.eta_s / 60)} min left`;
}

function evalValues(history, suffix) {
  const found = [];
  for (const record of history) {
    const evaluation = record.eval || {};
    const name = Object.keys(evaluation)
      .sort()
      .find((key) => key.endsWith(suffix) && typeof evaluation[key] === "number");
    if (name) found.push([record.step, evaluation[name]]);
  }
  return found;
}

function recordValues(history, name) {
  return history
    .filter((record) => typeof record[name] === "number")
    .map((record) => [record.step, record[name]]);
}

// A chart's series by its key: the loss, the accuracy, or a method's own metric (RL's
// reward and KL) as its records and its evaluations report it, as trainer/curves.py does.
function seriesOf(history, key) {
  if (key === "accuracy") return { eval: evalValues(history, "_accuracy") };
  return { train: recordValues(history, key), eval: evalValues(history, `_${key}`) };
}

function draw(figure, series, totalSteps, fixed) {
  const svg = figure.querySelector("svg");
  const [, , width, height] = svg.getAttribute("viewBox").split(" ").map(Number);
  const values = Object.values(series).flatMap((points) => points.map(([, v]) => v));
  if (!values.length) return;
  let [low, high] = fixed || [Math.min(...values), Math.max(...values)];
  if (high - low < 1e-9) [low, high] = [low - 0.5, high + 0.5];
  const steps = Object.values(series).flatMap((points) => points.map(([step]) => step));
  const xMax = Math.max(totalSteps || 0, 1, ...steps);
  const place = ([step, value]) => [
    Math.round((PAD + (step / xMax) * (width - 2 * PAD)) * 10) / 10,
    Math.round((PAD + ((high - value) / (high - low)) * (height - 2 * PAD)) * 10) / 10,
  ];
  const words = [];
  for (const [name, points] of Object.entries(series)) {
    const line = svg.querySelector(`[data-series="${name}"]`);
    const dots = svg.querySelector(`[data-dots="${name}"]`);
    if (!line || !dots) continue;
    const placed = points.map(place);
    line.setAttribute("points", placed.map(([x, y]) => `${x},${y}`).join(" "));
    dots.replaceChildren(
      ...placed.map(([x, y]) => {
        const dot = document.createElementNS("http://www.w3.org/2000/svg", "circle");
        dot.setAttribute("cx", x);
        dot.setAttribute("cy", y);
        dot.setAttribute("r", 3);
        return dot;
      }),
    );
    if (points.length) {
      const label = figure.querySelector(`.legend-${name}`)?.textContent || name;
      const ends = points.length > 1 ? [points[0], points[points.length - 1]] : points;
      const shown = ends.map(([step, value]) => `${Number(value.toPrecision(4))} at step ${step}`);
      words.push(`${label}: ${shown.join(", ")}`);
    }
  }
  // Hidden while the chart had no point: an empty scale read "from to".
  figure.querySelector("[data-chart-scale]").hidden = false;
  figure.querySelector("[data-chart-low]").textContent = low.toFixed(3);
  figure.querySelector("[data-chart-high]").textContent = high.toFixed(3);
  figure.querySelector("[data-chart-summary]").textContent = words.join("; ");
}

function showMetrics(metrics) {
  const list = run.querySelector("[data-run-metrics]");
  const names = Object.keys(metrics).sort();
  if (!list || !names.length) return;
  list.replaceChildren(
    ...names.flatMap((name) => {
      const term = document.createElement("dt");
      term.textContent = name;
      const value = document.createElement("dd");
      const number = metrics[name];
      // null: a NaN or infinite value the server could not store (a diverging run).
      if (typeof number !== "number") value.textContent = "–";
      else value.textContent = Number.isInteger(number) ? String(number) : number.toFixed(4);
      return [term, value];
    }),
  );
}

function showLogs(text) {
  const logs = run.querySelector("[data-run-logs]");
  if (!logs || logs.textContent === text) return;
  // Kept at the bottom while the reader is there, left alone while they scroll back.
  const atBottom = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
  logs.textContent = text;
  if (atBottom) logs.scrollTop = logs.scrollHeight;
}

function show(data) {
  showStatus(run.querySelector("[data-run-status]"), data.status);
  const percent = `${Math.round(data.progress * 100)}%`;
  const bar = run.querySelector("[data-run-progress]");
  bar.value = data.progress;
  bar.textContent = percent;
  run.querySelector("[data-run-percent]").textContent = percent;
  run.querySelector("[data-run-step]").textContent = String(data.step);
  run.querySelector("[data-run-total]").textContent = String(data.total_steps || "?");
  run.querySelector("[data-run-eta]").textContent = timeLeft(data);
  const fixed = { accuracy: [0, 1] };
  for (const figure of run.querySelectorAll("[data-chart]")) {
    const key = figure.dataset.chart;
    draw(figure, seriesOf(data.history || [], key), data.total_steps, fixed[key]);
  }
  showMetrics(data.metrics || {});
  showLogs(data.logs || "");
}

if (run && run.dataset.runFinished !== "true") {
  follow(run.dataset.runUrl, show).then((data) => {
    if (data) replaceFromPage(run, "[data-run-url]");
  });
}
