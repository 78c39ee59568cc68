// Ranking by keyboard or by dragging. The rank <select> of each reply is the truth the
// form submits; keys and drops set it, and the card moves into its rank's column.
const buckets = document.querySelector("[data-buckets]");
const unranked = document.querySelector("[data-unranked]");

function place(card, rank, { advance = false } = {}) {
  const select = card.querySelector("[data-rank-select]");
  select.value = rank ? String(rank) : "";
  const target = rank ? buckets.querySelector(`[data-bucket="${rank}"]`) : unranked;
  target.appendChild(card);
  // Ranking by keys goes down the list: the next unranked reply takes the focus.
  const next = advance ? unranked.querySelector(".candidate") : null;
  (next || card).focus();
}

if (buckets) {
  const cards = [...document.querySelectorAll(".candidate[data-candidate]")];
  const maxRank = buckets.querySelectorAll("[data-bucket]").length;
  for (const card of cards) {
    const select = card.querySelector("[data-rank-select]");
    if (select.value) place(card, Number(select.value));
    select.addEventListener("change", () => place(card, Number(select.value) || 0));
    card.addEventListener("keydown", (event) => {
      if (event.target.closest("select, textarea, input, summary")) return;
      const rank = Number(event.key);
      if (Number.isInteger(rank) && rank >= 1 && rank <= maxRank) {
        event.preventDefault();
        place(card, rank, { advance: true });
      } else if (event.key === "0" || event.key === "Backspace") {
        place(card, 0);
      }
    });
    card.addEventListener("dragstart", (event) => event.dataTransfer.setData("text/plain", card.dataset.candidate));
  }
  // Start with the first reply in hand, so ranking needs no mouse and no hunting with Tab.
  unranked.querySelector(".candidate")?.focus();
  for (const zone of [...buckets.querySelectorAll("[data-bucket]"), unranked]) {
    zone.addEventListener("dragover", (event) => event.preventDefault());
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      const card = document.querySelector(`.candidate[data-candidate="${event.dataTransfer.getData("text/plain")}"]`);
      if (card) place(card, Number(zone.dataset.bucket || 0));
    });
  }
}

// Pairwise: keys 1-7 pick a point on the scale (outside text fields).
const scale = document.querySelector("[data-scale]");
if (scale) {
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("textarea, input[type=text], select") || event.ctrlKey || event.altKey) return;
    // Not behind a content warning: nobody judges replies they have not chosen to read.
    if (scale.closest("[hidden]")) return;
    const radio = scale.querySelector(`[data-key="${event.key}"]`);
    if (radio) {
      event.preventDefault();
      radio.checked = true;
      radio.focus();
    }
  });
}
