// Small progressive enhancements; every page works without them.
// Strings go through Django's JavaScript catalogue (window.gettext from /jsi18n/).
const t = (text) => (typeof window.gettext === "function" ? window.gettext(text) : text);

// Tell the server the browser's time zone, so signed-out visitors see local times too.
try {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && !document.cookie.split("; ").includes(`tz=${zone}`)) {
    document.cookie = `tz=${zone}; path=/; max-age=31536000; samesite=lax`;
  }
} catch (error) {
  // No Intl time zone support: the site default applies.
}

// A time-zone menu marked data-browser-zone starts at the browser's own zone,
// unless the person already chose one before this script ran.
for (const select of document.querySelectorAll("select[data-browser-zone]")) {
  try {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    const untouched = [...select.options].every((option) => option.selected === option.defaultSelected);
    if (untouched && [...select.options].some((option) => option.value === zone)) select.value = zone;
  } catch (error) {
    // Keep the server's default.
  }
}

// "Copy" buttons: data-copy names the field whose value to copy.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.querySelector(button.dataset.copy);
  if (!field) return;
  try {
    await navigator.clipboard.writeText(field.value);
    button.textContent = t("Copied");
  } catch (error) {
    field.select();
    button.textContent = t("Press Ctrl+C to copy");
  }
});
