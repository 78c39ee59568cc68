// The guideline side panel: Alt+G opens and closes it from anywhere, even while typing in
// the editor; Esc closes it and gives focus back to where the labeler was.
const panel = document.getElementById("guideline-panel");
const toggle = document.querySelector("[data-guideline-toggle]");
let returnFocus = null;

function setOpen(open) {
  if (!panel) return;
  panel.hidden = !open;
  toggle?.setAttribute("aria-expanded", String(open));
  if (open) {
    returnFocus = document.activeElement;
    panel.focus();
  } else if (returnFocus) {
    returnFocus.focus();
  }
}

toggle?.addEventListener("click", () => setOpen(panel.hidden));
panel?.querySelector("[data-guideline-close]")?.addEventListener("click", () => setOpen(false));
document.addEventListener("keydown", (event) => {
  if (event.altKey && event.code === "KeyG") {
    event.preventDefault();
    setOpen(panel.hidden);
  } else if (event.key === "Escape" && panel && !panel.hidden) {
    setOpen(false);
  }
});
// A link such as #refusals from a review opens the panel at that section.
const cited = location.hash ? document.getElementById(decodeURIComponent(location.hash.slice(1))) : null;
if (panel && cited && panel.contains(cited)) {
  setOpen(true);
  cited.scrollIntoView();
}
