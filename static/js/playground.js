// The playground without a page load per message: the form goes to the API,
// /api/models/<id>/chat/, and the answer is shown in place. Anything but a good answer
// (a field in error) sends the form to the page instead, which says what is wrong where.
// Without JavaScript the form posts to the page, which answers the same way.
const form = document.querySelector("[data-playground]");

function chosenKind() {
  return form.elements.model.selectedOptions[0].dataset.kind;
}

function showFieldsOfKind() {
  for (const part of form.querySelectorAll("[data-for-kind]")) {
    part.hidden = part.dataset.forKind !== chosenKind();
  }
}

function turn(message) {
  const item = document.createElement("li");
  item.className = `turn turn-${message.role}`;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = message.role;
  item.append(who, ` ${message.content || "(an empty reply)"}`);
  return item;
}

function answerSection(answer, modelName) {
  const section = document.createElement("section");
  section.className = "card answer";
  section.dataset.answer = "";
  section.setAttribute("aria-labelledby", "answer-h");
  const heading = document.createElement("h2");
  heading.id = "answer-h";
  const text = document.createElement("p");
  if ("score" in answer) {
    heading.textContent = "Score";
    text.className = "score";
    const score = document.createElement("strong");
    score.dataset.score = "";
    score.textContent = answer.score.toFixed(4);
    text.append(`${modelName} gives this reply `, score);
  } else {
    // The reply itself is the conversation's last turn: shown there, not twice.
    heading.textContent = "How it was sampled";
    text.className = "muted";
    text.dataset.sampled = "";
    text.textContent = `Seed ${answer.seed}. The reply is the last turn of the conversation above.`;
  }
  const tokensHeading = document.createElement("h3");
  tokensHeading.id = "tokens-h";
  tokensHeading.textContent = `What the model read: ${answer.prompt_tokens.length} tokens`;
  const tokens = document.createElement("ol");
  tokens.className = "tokens";
  tokens.dataset.tokens = "";
  tokens.setAttribute("aria-labelledby", "tokens-h");
  const turnTokens = new Set(answer.turn_tokens);
  for (const token of answer.prompt_tokens) {
    const item = document.createElement("li");
    item.textContent = token;
    if (turnTokens.has(token)) item.className = "turn-token";
    tokens.append(item);
  }
  section.append(heading, text, tokensHeading, tokens);
  return section;
}

async function send(event) {
  event.preventDefault();
  const fields = form.elements;
  const conversation = JSON.parse(fields.conversation.value || "[]");
  const messages = [...conversation, { role: "user", content: fields.message.value }];
  const reward = chosenKind() === "reward";
  if (reward) messages.push({ role: "assistant", content: fields.reply.value });
  const body = { messages };
  for (const name of ["temperature", "top_p", "max_new_tokens"]) {
    if (fields[name].value.trim()) body[name] = fields[name].value.trim();
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const response = await fetch(form.dataset.chatUrl.replace("/0/", `/${fields.model.value}/`), {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": fields.csrfmiddlewaretoken.value,
      },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`answered ${response.status}`);
    const answer = await response.json();
    if (!reward) {
      const transcript = form.querySelector("[data-transcript]");
      if (!conversation.length) transcript.replaceChildren();
      const said = [...messages, { role: "assistant", content: answer.reply }];
      transcript.append(turn(messages[messages.length - 1]), turn(said[said.length - 1]));
      fields.conversation.value = JSON.stringify(said);
      fields.message.value = "";
    }
    const modelName = fields.model.selectedOptions[0].textContent.split(":")[0];
    const fresh = answerSection(answer, modelName);
    const old = document.querySelector("[data-answer]");
    if (old) old.replaceWith(fresh);
    else form.after(fresh);
  } catch {
    form.submit();
    return;
  } finally {
    button.disabled = false;
  }
  fields.message.focus();
}

if (form) {
  showFieldsOfKind();
  form.elements.model.addEventListener("change", showFieldsOfKind);
  form.addEventListener("submit", send);
}
