// Follows a queued or running import or export on its page. Every second it asks the API
// for the job and updates the status, the bar and the counts in place. Once the job is
// over, the page itself is fetched once and its report swapped in, so the finished view
// (bad lines, download links, dataset card) is the one the server renders, as on a reload.
const job = document.querySelector("[data-job-url]");
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const EVERY_MS = 1000;

function capitalized(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function show(data) {
  const status = job.querySelector("[data-job-status]");
  if (status) {
    status.textContent = capitalized(data.status);
    status.className = `status status-${data.status}`;
  }
  const bar = job.querySelector("[data-job-progress]");
  if (bar && data.lines_total) {
    bar.max = data.lines_total;
    bar.value = data.lines_done;
  }
  const lines = job.querySelector("[data-job-lines]");
  if (lines && "lines_done" in data) {
    lines.textContent = `${data.lines_done} of ${data.lines_total} lines`;
  }
  const counts = job.querySelector("[data-job-counts]");
  if (counts && data.counts && Object.keys(data.counts).length) {
    counts.replaceChildren(
      ...Object.entries(data.counts).map(([name, n]) => {
        const item = document.createElement("li");
        item.textContent = `${name.replaceAll("_", " ")}: ${n}`;
        return item;
      }),
    );
  }
  const errors = job.querySelector("[data-job-error-count]");
  if (errors && "error_count" in data) errors.textContent = String(data.error_count);
}

async function showReport() {
  const response = await fetch(location.href, { credentials: "same-origin" });
  if (!response.ok) return;
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  const report = page.querySelector("[data-job-url]");
  if (report) job.replaceWith(report);
}

async function poll() {
  try {
    const response = await fetch(job.dataset.jobUrl, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    // Signed out, or no longer an admin: asking again would not help; the reload link stays.
    if (response.status >= 400 && response.status < 500) return;
    if (response.ok) {
      const data = await response.json();
      show(data);
      if (FINISHED.has(data.status)) {
        await showReport();
        return;
      }
    }
  } catch {
    // The server was briefly out of reach: ask again on the next tick.
  }
  setTimeout(poll, EVERY_MS);
}

if (job && job.dataset.jobFinished !== "true") setTimeout(poll, EVERY_MS);
