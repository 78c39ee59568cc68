// The task page: autosave, lease keep-alive, time on task and keyboard shortcuts.
// Everything here enhances a plain form that also works without JavaScript.
const page = document.querySelector("[data-task]");
const AUTOSAVE_MS = 1500;
const RENEW_MS = 60_000;
// How soon a save that failed (signed out, server unreachable) is tried again.
const RETRY_MS = 5_000;

function csrfToken() {
  const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

// `keepalive`: the request may finish after the page is gone (a reload, a closed tab).
async function call(method, url, body, keepalive = false) {
  return fetch(url, {
    method,
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
    keepalive,
  });
}

// The browser's storage may be full, turned off or hold something unreadable: the page
// then works on without its copies.
function stored(key) {
  try {
    return JSON.parse(localStorage.getItem(key) || "null");
  } catch {
    return null;
  }
}
function store(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify({ ...value, stamp: Date.now() }));
  } catch {
    // Kept on the page only.
  }
}
// Copies are kept a week, well past any lease, then dropped; a finished task's copy is
// never read again, as its lease never comes back.
const KEPT_MS = 7 * 24 * 3600 * 1000;
function forgetOld() {
  try {
    for (let i = localStorage.length - 1; i >= 0; i--) {
      const key = localStorage.key(i);
      if (key?.startsWith("task-") && !(Date.now() - (stored(key)?.stamp || 0) < KEPT_MS)) {
        localStorage.removeItem(key);
      }
    }
  } catch {
    // Nothing to tidy.
  }
}
// What the server accepts as time on task (a week).
const MAX_SECONDS = 7 * 24 * 3600;

if (page) {
  forgetOld();
  const taskId = page.dataset.task;
  const editor = document.getElementById("content");
  const status = document.getElementById("save-status");
  const timeField = document.getElementById("time_spent_s");
  const clock = document.getElementById("time-on-task");
  const form = document.getElementById("submit-form");
  // The clock starts from what this lease counted before: the server's copy (saved with
  // the lease, so another browser has it too) or this browser's, written every second,
  // whichever is further on (a reload can outrun the last save to the server).
  // By lease, not task: another person on this browser holding the same task starts at 0.
  const timeKey = `task-time:${page.dataset.assignment}`;
  let seconds = Math.max(Number(timeField?.value || 0), Number(stored(timeKey)?.seconds || 0));
  let timer = null;
  const show = () => {
    seconds = Math.min(seconds, MAX_SECONDS);
    if (timeField) timeField.value = String(seconds);
    if (clock) clock.textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
    store(timeKey, { seconds });
  };
  show();

  // Time on task counts only while the page is visible.
  setInterval(() => {
    if (document.visibilityState !== "visible") return;
    seconds += 1;
    show();
  }, 1000);

  // Work in progress is also kept in this browser as it is typed, so a session that
  // ended, a dropped network or a restarting server loses nothing: the text stays on the
  // page and here, and is saved as soon as saving works again (after signing in again in
  // another tab, or on the next visit). The copy names the server's draft it was typed
  // over (its saved time, by the server's clock), and is brought back only onto that same
  // draft: a draft saved since, from anywhere, wins.
  const draftKey = `task-draft:${page.dataset.assignment}`;
  let base = Number(page.dataset.draftSavedAt || 0);
  let signedOut = false;
  const keepHere = () => store(draftKey, { content: editor.value, base });
  const retryLater = () => {
    clearTimeout(timer);
    timer = setTimeout(save, RETRY_MS);
  };
  const sayNotSaved = (why) => {
    if (!status) return;
    status.replaceChildren(`Not saved: ${why} Your text is kept in this browser and is saved as soon as `);
    if (signedOut) {
      const link = Object.assign(document.createElement("a"), { href: "/accounts/login/?next=/", target: "_blank", textContent: "you sign in again" });
      status.append(link, " (in a new tab; this page stays as it is).");
    } else {
      status.append("the server answers again.");
    }
  };
  const stillSignedIn = async () => {
    const me = await fetch("/api/me/", { credentials: "same-origin" }).catch(() => null);
    return me === null ? null : me.ok;
  };
  async function save() {
    let response;
    try {
      response = await call("PUT", `/api/tasks/${taskId}/draft/`, { content: editor.value, time_spent_s: seconds });
    } catch {
      sayNotSaved("the server cannot be reached.");
      return retryLater();
    }
    if (response.ok) {
      signedOut = false;
      const body = await response.json().catch(() => ({}));
      if (body.saved_at) base = Math.floor(Date.parse(body.saved_at) / 1000);
      keepHere();
      if (status) status.textContent = "Draft saved";
      return;
    }
    if ((response.status === 401 || response.status === 403) && (await stillSignedIn()) === false) {
      signedOut = true;
      sayNotSaved("you are signed out.");
      return retryLater();
    }
    if (response.status >= 500) {
      sayNotSaved("the server had a problem.");
      return retryLater();
    }
    const body = await response.json().catch(() => ({}));
    if (status) status.textContent = "Draft not saved: " + (body.detail || response.statusText);
  }
  window.addEventListener("focus", () => {
    if (signedOut && editor) save();
  });
  if (editor) {
    const kept = stored(draftKey);
    if (kept && typeof kept.content === "string" && kept.content !== editor.value && kept.base === base) {
      editor.value = kept.content;
      if (status) status.textContent = "Restored the text kept in this browser";
      save();
    }
  }
  // Sent only once the session is known to be alive: a form posted while signed out
  // would land on the login page.
  form?.addEventListener("submit", async (event) => {
    if (form.dataset.sessionChecked === "1") return;
    event.preventDefault();
    const alive = await stillSignedIn();
    if (alive) {
      form.dataset.sessionChecked = "1";
      form.requestSubmit(event.submitter);
      return;
    }
    signedOut = alive === false;
    sayNotSaved(signedOut ? "you are signed out, so it cannot be sent yet." : "the server cannot be reached, so it cannot be sent yet.");
  });
  // The lease is renewed with the time counted so far, and once more as the page goes
  // away (a reload, a closed tab): the request is let finish after the page is gone.
  const keep = (keepalive = false) =>
    call("POST", `/api/tasks/${taskId}/renew/`, { time_spent_s: seconds }, keepalive).catch(() => null);
  window.addEventListener("pagehide", () => keep(true));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") keep(true);
  });
  editor?.addEventListener("input", () => {
    keepHere();
    if (status && !signedOut) status.textContent = "Editing…";
    clearTimeout(timer);
    timer = setTimeout(save, AUTOSAVE_MS);
  });
  setInterval(async () => {
    const response = await keep();
    if (response && (response.status === 401 || response.status === 403) && (await stillSignedIn()) === false) {
      signedOut = true;
      if (editor) sayNotSaved("you are signed out.");
    }
  }, RENEW_MS);

  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      const form = document.getElementById("submit-form");
      // A form still behind a content warning is not sent unseen.
      if (form && !form.closest("[hidden]")) form.requestSubmit();
    } else if (event.altKey && event.code === "KeyK") {
      event.preventDefault();
      document.getElementById("skip-form")?.requestSubmit();
    }
  });

  // Starting from the model's draft: the server records which draft and how much changed.
  // The draft itself stays on the page beside the reply being written from it.
  document.querySelector("[data-use-draft]")?.addEventListener("click", () => {
    if (editor.value.trim() && !confirm("Replace your text with the model draft?")) return;
    editor.value = document.getElementById("model-draft-text").content.textContent;
    document.getElementById("started_from_draft").value = "1";
    editor.dispatchEvent(new Event("input"));
    editor.focus();
  });

  // A sensitive prompt (and on a ranking page its replies) stays hidden until the person
  // chooses to read it.
  document.querySelector("[data-reveal]")?.addEventListener("click", (event) => {
    event.preventDefault();
    for (const part of document.querySelectorAll("[data-until-revealed]")) part.hidden = false;
    document.querySelector("form[data-until-revealed] .candidate[tabindex], form[data-until-revealed] input[type=radio]")?.focus();
    event.currentTarget.closest(".sensitive-warning").hidden = true;
  });
}
