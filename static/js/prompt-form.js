// Multi-turn prompts: each click adds an assistant turn and the user turn after it, so the
// conversation keeps alternating and ends on the user, as the server requires.
const turns = document.getElementById("turns");
document.querySelector("[data-add-turns]")?.addEventListener("click", () => {
  for (const role of ["assistant", "user"]) {
    const template = turns.querySelector(".turn-input");
    const copy = template.cloneNode(true);
    const index = turns.querySelectorAll(".turn-input").length + 1;
    copy.querySelector("select").value = role;
    copy.querySelector("select").setAttribute("aria-label", `Role of turn ${index}`);
    const text = copy.querySelector("textarea");
    text.value = "";
    text.setAttribute("aria-label", `Text of turn ${index}`);
    turns.appendChild(copy);
  }
  turns.querySelector(".turn-input:last-child textarea").focus();
});
