// The minutes' editor: a live preview of the Markdown as the server renders and
// sanitises it (the same code as the saved minutes), a moment after typing stops.
// Without this script the form still saves, and its Preview button previews.
const t = (text) => (typeof window.gettext === "function" ? window.gettext(text) : text);
const DELAY_MS = 400;

const form = document.querySelector("form.minutes-form");
const preview = document.querySelector("[data-preview][data-preview-url]");
const textarea = form?.querySelector("textarea[name=body]");
const status = document.querySelector("[data-preview-status]");

if (form && preview && textarea) {
  const token = form.querySelector("input[name=csrfmiddlewaretoken]")?.value ?? "";
  let timer = null;
  let controller = null;
  let sent = textarea.value;

  const show = (text) => {
    if (status) status.textContent = text;
  };

  const refresh = async () => {
    const body = textarea.value;
    if (body === sent) return;
    sent = body;
    controller?.abort();
    controller = new AbortController();
    const data = new FormData();
    data.append("body", body);
    show(t("updating…"));
    try {
      const response = await fetch(preview.dataset.previewUrl, {
        method: "POST",
        body: data,
        headers: { "X-CSRFToken": token },
        credentials: "same-origin",
        signal: controller.signal,
      });
      if (!response.ok) throw new Error(String(response.status));
      // Sanitised by the server (markdown-it with raw HTML off, then nh3).
      preview.innerHTML = await response.text();
      show("");
    } catch (error) {
      if (error.name === "AbortError") return;
      sent = null; // try again on the next keystroke
      show(preview.dataset.previewError || t("The preview is not available."));
    }
  };

  textarea.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, DELAY_MS);
  });
  preview.dataset.live = "true";
}
