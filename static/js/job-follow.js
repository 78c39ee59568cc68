// Following a long job from its page, for the dashboard's run and generation pages: ask
// the job's API address every second and hand each answer to `show`, until the job is over.
export const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const EVERY_MS = 1000;

export function follow(url, show) {
  return new Promise((resolve) => {
    async function ask() {
      try {
        const response = await fetch(url, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        // Signed out, or no longer an admin: asking again would not help.
        if (response.status >= 400 && response.status < 500) return resolve(null);
        if (response.ok) {
          const data = await response.json();
          show(data);
          if (FINISHED.has(data.status)) return resolve(data);
        }
      } catch {
        // The server was briefly out of reach: ask again on the next tick.
      }
      setTimeout(ask, EVERY_MS);
    }
    setTimeout(ask, EVERY_MS);
  });
}

// Once a job is over, the page as the server renders it now (links to what the job made,
// buttons that apply to it) takes the place of the part that was followed.
export async function replaceFromPage(element, selector) {
  const response = await fetch(location.href, { credentials: "same-origin" });
  if (!response.ok) return;
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  const fresh = page.querySelector(selector);
  if (fresh) element.replaceWith(fresh);
}

export function capitalized(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function showStatus(element, status) {
  if (!element) return;
  element.textContent = capitalized(status);
  element.className = `status status-${status}`;
}
