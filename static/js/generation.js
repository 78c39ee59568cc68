// A generation's page while it runs: status, prompts done and a link to each comparison
// task as it is filed, from /api/generations/<id>/ every second.
import { follow, replaceFromPage, showStatus } from "./job-follow.js";

const job = document.querySelector("[data-generation-url]");

function show(data) {
  showStatus(job.querySelector("[data-job-status]"), data.status);
  job.querySelector("[data-job-progress]").value = data.progress;
  const done = Math.round(data.progress * data.prompts.length);
  job.querySelector("[data-job-count]").textContent =
    `${done} of ${data.prompts.length} prompts`;
  const list = job.querySelector("[data-comparisons]");
  const shown = new Set([...list.querySelectorAll("a")].map((link) => link.dataset.id));
  for (const id of data.comparisons) {
    if (shown.has(String(id))) continue;
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = job.dataset.comparisonUrl.replace("/0/", `/${id}/`);
    link.dataset.id = String(id);
    link.textContent = `Comparison ${id}`;
    item.append(link);
    list.append(item);
  }
}

if (job && job.dataset.generationFinished !== "true") {
  follow(job.dataset.generationUrl, show).then((data) => {
    if (data) replaceFromPage(job, "[data-generation-url]");
  });
}
