// Submits forms marked data-auto-submit as soon as the page loads: a GET page that
// stands for an action (taking a task) does it with a POST, without a second click.
// Without JavaScript the form's button does the same.
for (const form of document.querySelectorAll("form[data-auto-submit]")) {
  form.requestSubmit();
}
