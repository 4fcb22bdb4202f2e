// The series form: show only the fields the chosen kind of rule uses. Without this script
// every field shows, and each says what it is for.
const form = document.querySelector(".series-form");
if (form) {
  const kinds = [...form.querySelectorAll("input[data-rule-kind]")];
  const show = () => {
    const chosen = kinds.find((input) => input.checked)?.value;
    for (const field of form.querySelectorAll("[data-kinds]")) {
      field.hidden = Boolean(chosen) && !field.dataset.kinds.split(" ").includes(chosen);
    }
  };
  for (const input of kinds) input.addEventListener("change", show);
  show();
}
