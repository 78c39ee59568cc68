// Live preview for the guideline editor: the server renders and sanitizes, exactly as it
// will for the published version, so what the admin sees is what labelers will see.
const DEBOUNCE_MS = 250;

function csrfToken() {
  const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

for (const textarea of document.querySelectorAll("textarea[data-preview-target]")) {
  const target = document.getElementById(textarea.dataset.previewTarget);
  let timer = null;
  let latest = 0;
  const render = async () => {
    const request = ++latest;
    const response = await fetch(textarea.dataset.previewUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      credentials: "same-origin",
      body: JSON.stringify({ body: textarea.value }),
    });
    // Drop answers that arrive after a newer request was sent.
    if (request !== latest || !response.ok) return;
    target.innerHTML = (await response.json()).html;
  };
  textarea.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(render, DEBOUNCE_MS);
  });
  render();
}
