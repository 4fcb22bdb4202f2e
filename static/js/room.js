// The room page: a live chat that never loses a message (protocol: docs/protocol.md).
//
// - Messages are kept by seq. A seq jump means a gap: later messages wait in `early`
//   until history.fetch brings the missing ones. A seq already seen is ignored.
// - Messages typed while offline wait in an outbox kept in sessionStorage, and are sent
//   once connected; each keeps its client_id, so a retry never stores a second copy.
// - The socket reconnects with backoff and resumes with ?after=<last seq>.
const t = (text) => (typeof window.gettext === "function" ? window.gettext(text) : text);
const fmt = (text, values) =>
  typeof window.interpolate === "function"
    ? window.interpolate(t(text), values, true)
    : t(text).replace(/%\((\w+)\)s/g, (_m, key) => values[key]);

const root = document.getElementById("room");
const roomId = Number(root.dataset.roomId);
const myId = Number(root.dataset.userId);
const zone = root.dataset.timezone;
const locale = root.dataset.language === "fr" ? "fr-CA" : "en-CA";
const bodyMax = Number(root.dataset.bodyMax);

const list = root.querySelector("[data-messages]");
const onlineList = root.querySelector("[data-online]");
const connection = root.querySelector("[data-connection]");
const composer = root.querySelector("[data-composer]");
const textarea = composer.querySelector("textarea");
const composerError = root.querySelector("[data-composer-error]");
const loadEarlier = root.querySelector("[data-load-earlier]");
const reportDialog = root.querySelector("[data-report-dialog]");
const typingLine = root.querySelector("[data-typing]");

const timeFormat = new Intl.DateTimeFormat(locale, { timeZone: zone, timeStyle: "short" });
const dayFormat = new Intl.DateTimeFormat(locale, { timeZone: zone, dateStyle: "full" });
const dayKey = new Intl.DateTimeFormat("en-CA", { timeZone: zone, dateStyle: "short" });

const messages = new Map(); // seq -> message
const early = new Map(); // seq -> message that arrived before a missing one
let firstSeq = null; // the oldest seq shown
let lastSeq = 0; // every seq from firstSeq to lastSeq is shown
let hasEarlier = false;
let me = { id: myId, manager: false };
let heartbeatSeconds = 15;
const typists = new Map(); // user id -> { name, until }: who is typing now
const TYPING_SHOWN_MS = 5000;
const TYPING_EVERY_MS = 2000;
let typingSentAt = 0;

let socket = null;
let ready = false; // room.state received on the current socket
let attempts = 0;
let authRetried = false; // a 4401 after the room opened is tried once more (see close)
let reconnectTimer = null;
let watchdog = null;
let gapRequested = false;
let finalClose = null;
let serverTime = null; // the server's clock at the last state, heartbeat or pong
let editing = null; // {seq, draft}: the edit in progress survives re-renders

// ---------------------------------------------------------------------------- outbox

const outboxKey = `room-outbox-${roomId}`;
const outbox = new Map(
  JSON.parse(sessionStorage.getItem(outboxKey) || "[]").map((item) => [item.client_id, item]),
);

function saveOutbox() {
  sessionStorage.setItem(outboxKey, JSON.stringify([...outbox.values()]));
}

function newClientId() {
  if (window.crypto && typeof window.crypto.randomUUID === "function") {
    return window.crypto.randomUUID();
  }
  const bytes = new Uint8Array(16);
  window.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function queue(body) {
  typingSentAt = 0; // the next keystroke announces typing again
  const item = { client_id: newClientId(), body, sentAt: 0 };
  outbox.set(item.client_id, item);
  saveOutbox();
  flushOutbox();
  render();
}

function flushOutbox() {
  if (!ready) return;
  const now = Date.now();
  for (const item of outbox.values()) {
    // Send once per connection; resend on the same connection only if no echo came.
    if (item.sentOn === connectionId && now - item.sentAt < 10000) continue;
    if (item.retryAt && now < item.retryAt) continue; // refused for now: not before then
    item.sentOn = connectionId;
    item.sentAt = now;
    send({ type: "message.send", body: item.body, client_id: item.client_id });
  }
}

// ------------------------------------------------------------------------- the socket

let connectionId = 0;

function connect() {
  clearTimeout(reconnectTimer);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  let after = "";
  if (lastSeq > 0) {
    after = `?after=${lastSeq}`;
    if (serverTime) {
      // Changes to messages already shown, made while away (30 s of margin for commits
      // that were under way).
      const since = new Date(Date.parse(serverTime) - 30000).toISOString();
      after += `&changed_since=${encodeURIComponent(since)}`;
    }
  }
  socket = new WebSocket(`${scheme}://${location.host}${root.dataset.wsPath}${after}`);
  connectionId += 1;
  ready = false;
  gapRequested = false;
  socket.addEventListener("message", (event) => {
    armWatchdog();
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch (error) {
      return;
    }
    (handlers[frame.type] || (() => {}))(frame);
  });
  socket.addEventListener("close", (event) => {
    const wasReady = ready;
    ready = false;
    clearTimeout(watchdog);
    const reasons = {
      4401: t("You are signed out. Sign in again to chat."),
      4403: t("You are not a member of this community any more."),
      4404: t("This room does not exist."),
      4429: t("You have too many chat windows open. Close some, then reload this page."),
    };
    if (event.code === 4401 && wasReady && !authRetried) {
      // The session ended — or only changed its key (a password changed in another tab
      // keeps this browser signed in with a new cookie): try once more before giving up.
      authRetried = true;
      reconnectTimer = setTimeout(connect, 0);
      return;
    }
    if (reasons[event.code]) {
      finalClose = reasons[event.code];
      setStatus(finalClose);
      composer.querySelector("button").disabled = true;
      return;
    }
    if (event.code === 4012) {
      // This server process is restarting: reconnect at once, to another one. The jitter
      // spreads a whole room's reconnections over half a second.
      setStatus(t("Reconnecting…"));
      reconnectTimer = setTimeout(connect, Math.random() * 500);
      return;
    }
    scheduleReconnect();
  });
}

function send(frame) {
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify(frame));
    return true;
  }
  return false;
}

function scheduleReconnect() {
  attempts += 1;
  const delay = Math.min(15000, 500 * 2 ** Math.min(attempts - 1, 5)) * (0.75 + Math.random() / 2);
  const seconds = Math.ceil(delay / 1000);
  setStatus(
    outbox.size
      ? fmt("Offline. Reconnecting in %(seconds)s s; your messages will be sent then.", { seconds })
      : fmt("Offline. Reconnecting in %(seconds)s s…", { seconds }),
  );
  reconnectTimer = setTimeout(connect, delay);
  render();
}

function armWatchdog() {
  // No frame for 2.5 heartbeats: the connection is dead even if the browser has not noticed.
  clearTimeout(watchdog);
  watchdog = setTimeout(() => socket && socket.close(), heartbeatSeconds * 2500);
}

window.addEventListener("online", () => {
  if (!socket || socket.readyState === WebSocket.CLOSED) connect();
});

function setStatus(text) {
  connection.textContent = text;
}

// ---------------------------------------------------------------------------- frames

const handlers = {
  "room.state"(frame) {
    serverTime = frame.server_time;
    me = frame.you;
    heartbeatSeconds = frame.limits.heartbeat || heartbeatSeconds;
    ready = true;
    attempts = 0;
    authRetried = false;
    setStatus(t("Connected."));
    renderOnline(frame.online);
    if (frame.last_seq > lastSeq && lastSeq > 0) requestGap();
    flushOutbox();
  },
  history(frame) {
    if (frame.before !== undefined) {
      for (const message of frame.messages) {
        messages.set(message.seq, message);
        firstSeq = firstSeq === null ? message.seq : Math.min(firstSeq, message.seq);
      }
      hasEarlier = frame.has_more;
      render();
      return;
    }
    if (frame.after === undefined && !frame.resume && firstSeq === null) {
      // The first page of a fresh connection: the newest messages (none: an empty room).
      firstSeq = frame.messages.length ? frame.messages[0].seq : 1;
      lastSeq = firstSeq - 1;
      hasEarlier = frame.has_more;
    }
    if (frame.after !== undefined) gapRequested = false;
    for (const message of frame.messages) accept(message);
    drainEarly();
    if (frame.has_more && (frame.resume || frame.after !== undefined)) requestGap(true);
    render();
  },
  "message.new"(frame) {
    if (frame.message.author && typists.delete(frame.message.author.id)) renderTyping();
    accept(frame.message);
    render();
  },
  typing(frame) {
    typists.set(frame.user.id, { name: frame.user.name, until: Date.now() + TYPING_SHOWN_MS });
    renderTyping();
    setTimeout(renderTyping, TYPING_SHOWN_MS + 50);
  },
  "message.updated"(frame) {
    const seq = frame.message.seq;
    if (early.has(seq)) early.set(seq, frame.message); // shown once the gap is filled
    if (messages.has(seq)) {
      messages.set(seq, frame.message);
      render();
    }
  },
  presence(frame) {
    renderOnline(frame.online);
  },
  heartbeat(frame) {
    serverTime = frame.server_time;
    if (frame.last_seq > lastSeq) requestGap();
  },
  pong(frame) {
    serverTime = frame.server_time;
    if (frame.last_seq > lastSeq) requestGap();
  },
  "report.received"() {
    setStatus(t("Thank you. The managers will look at it."));
  },
  error(frame) {
    const item = frame.client_id && outbox.get(frame.client_id);
    const retry = ["rate_limited", "overloaded", "server_error"].includes(frame.code);
    if (item && retry) {
      // Try again later with the same client_id: a retry never stores a second copy.
      const wait = (frame.retry_after || 5) * 1000;
      item.sentAt = 0;
      item.retryAt = Date.now() + wait;
      setTimeout(flushOutbox, wait + 50);
      composerError.textContent = frame.detail;
      return;
    }
    if (item) {
      // The server refused this message for good: give the text back to its author,
      // before whatever they have typed since rather than instead of it.
      outbox.delete(frame.client_id);
      saveOutbox();
      textarea.value = textarea.value ? `${item.body}\n\n${textarea.value}` : item.body;
      render();
    }
    composerError.textContent = frame.detail;
  },
};

function accept(message) {
  if (firstSeq === null) {
    early.set(message.seq, message); // before the first page: wait for it
    return;
  }
  if (message.seq <= lastSeq) {
    // A duplicate, already shown, or older than the oldest shown (the answer to a retry
    // of a message stored long ago): either way it is stored, so it leaves the outbox.
    sent(message);
    return;
  }
  if (message.seq > lastSeq + 1) {
    early.set(message.seq, message);
    requestGap();
    return;
  }
  take(message);
  drainEarly();
}

function drainEarly() {
  for (const seq of [...early.keys()]) {
    if (seq <= lastSeq) early.delete(seq);
  }
  while (early.has(lastSeq + 1)) {
    const next = early.get(lastSeq + 1);
    early.delete(next.seq);
    take(next);
  }
  if (early.size) requestGap();
}

function take(message) {
  messages.set(message.seq, message);
  lastSeq = message.seq;
  sent(message);
}

function sent(message) {
  const item = message.author?.id === me.id && outbox.get(message.client_id);
  if (!item) return;
  outbox.delete(message.client_id);
  saveOutbox();
  if (item.retryAt) composerError.textContent = ""; // the refusal it showed is over
}

function requestGap(force = false) {
  if (gapRequested && !force) return;
  gapRequested = send({ type: "history.fetch", after: lastSeq, limit: 100 });
}

// ---------------------------------------------------------------------------- render

function linkify(text, into) {
  const pattern = /\bhttps?:\/\/[^\s<>"]+/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    let url = match[0].replace(/[.,;:!?)\]]+$/, "");
    into.append(document.createTextNode(text.slice(last, match.index)));
    const anchor = document.createElement("a");
    anchor.href = url;
    anchor.textContent = url;
    anchor.rel = "noopener noreferrer nofollow";
    anchor.target = "_blank";
    into.append(anchor);
    last = match.index + url.length;
  }
  into.append(document.createTextNode(text.slice(last)));
}

function button(label, action, extra = {}) {
  const element = document.createElement("button");
  element.type = "button";
  element.className = "link";
  element.textContent = label;
  element.addEventListener("click", action);
  Object.assign(element, extra);
  return element;
}

function systemItem(message) {
  // The server's own message (the meeting started, an item began): a marker, no author.
  const item = document.createElement("li");
  item.className = "message system";
  item.id = `m-${message.seq}`;
  item.dataset.seq = message.seq;
  const time = document.createElement("time");
  time.dateTime = message.created_at;
  time.textContent = timeFormat.format(new Date(message.created_at));
  const body = document.createElement("p");
  body.className = "message-body";
  body.textContent = message.hidden ? t("A manager hid this message.") : message.body;
  item.append(body, " ", time);
  return item;
}

function messageItem(message, grouped) {
  if (message.kind === "system") return systemItem(message);
  const item = document.createElement("li");
  item.className = "message" + (grouped ? " grouped" : "");
  item.id = `m-${message.seq}`;
  item.dataset.seq = message.seq;
  const created = new Date(message.created_at);
  const meta = document.createElement("div");
  meta.className = "message-meta";
  const author = document.createElement("strong");
  author.textContent = message.author.name;
  const time = document.createElement("time");
  time.dateTime = message.created_at;
  time.textContent = timeFormat.format(created);
  meta.append(author, " ", time);
  if (grouped) author.className = "visually-hidden";
  if (message.edited_at) meta.append(" ", Object.assign(document.createElement("span"), {
    className: "meta", textContent: t("(edited)"),
  }));
  if (editing && editing.seq === message.seq) {
    if (message.deleted || message.hidden) {
      editing = null; // removed meanwhile (in another tab, or by a manager)
    } else {
      item.append(meta, editForm(message));
      return item;
    }
  }
  const body = document.createElement("p");
  body.className = "message-body";
  if (message.hidden) {
    body.classList.add("meta");
    body.textContent = t("A manager hid this message.");
  } else if (message.deleted) {
    body.classList.add("meta");
    body.textContent = t("This message was deleted.");
  } else {
    linkify(message.body, body);
  }
  item.append(meta, body);
  const actions = document.createElement("div");
  actions.className = "message-actions";
  const mine = message.author?.id === me.id;
  if (mine && !message.deleted && !message.hidden) {
    actions.append(
      button(t("Edit"), () => startEdit(message), { ariaLabel: t("Edit your message") }),
      button(t("Delete"), () => {
        if (window.confirm(t("Delete this message?"))) {
          send({ type: "message.delete", seq: message.seq });
        }
      }, { ariaLabel: t("Delete your message") }),
    );
  }
  if (!mine && !message.deleted && !message.hidden) {
    actions.append(button(t("Report"), () => startReport(message)));
  }
  if (me.manager && !message.deleted) {
    actions.append(
      message.hidden
        ? button(t("Restore"), () => send({ type: "message.restore", seq: message.seq }))
        : button(t("Hide"), () => send({ type: "message.hide", seq: message.seq })),
    );
  }
  if (actions.childElementCount) item.append(actions);
  return item;
}

function pendingItem(entry) {
  const item = document.createElement("li");
  item.className = "message pending";
  item.dataset.clientId = entry.client_id;
  const meta = document.createElement("div");
  meta.className = "message-meta meta";
  meta.textContent = ready ? t("Sending…") : t("Waiting for the connection…");
  const body = document.createElement("p");
  body.className = "message-body";
  linkify(entry.body, body);
  item.append(meta, body);
  return item;
}

function render() {
  const keepBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  // Every render rebuilds the list: an edit field that had the focus gets it back.
  const active = document.activeElement;
  const editFocus =
    active && active.matches("form.edit textarea")
      ? [active.selectionStart, active.selectionEnd]
      : null;
  const items = [];
  let previous = null;
  const seqs = [...messages.keys()].sort((a, b) => a - b);
  for (const seq of seqs) {
    const message = messages.get(seq);
    const created = new Date(message.created_at);
    const day = dayKey.format(created);
    if (!previous || dayKey.format(new Date(previous.created_at)) !== day) {
      // A list item, not role="separator": a list may hold only list items (axe "list").
      const dayItem = document.createElement("li");
      dayItem.className = "day";
      const date = document.createElement("time");
      date.dateTime = day;
      date.textContent = dayFormat.format(created);
      dayItem.append(date);
      items.push(dayItem);
      previous = null;
    }
    const grouped =
      previous !== null &&
      previous.author?.id === message.author?.id &&
      message.kind !== "system" &&
      previous.kind !== "system" &&
      created - new Date(previous.created_at) < 5 * 60 * 1000;
    items.push(messageItem(message, grouped));
    previous = message;
  }
  for (const entry of outbox.values()) items.push(pendingItem(entry));
  list.replaceChildren(...items);
  loadEarlier.hidden = !hasEarlier;
  if (keepBottom) list.scrollTop = list.scrollHeight;
  const field = editFocus && list.querySelector("form.edit textarea");
  if (field) {
    field.focus();
    field.setSelectionRange(...editFocus);
  }
}

function renderTyping() {
  const now = Date.now();
  for (const [id, typist] of typists) if (typist.until <= now) typists.delete(id);
  const names = [...typists.values()].map((typist) => typist.name);
  if (names.length === 0) typingLine.textContent = "";
  else if (names.length === 1) typingLine.textContent = fmt("%(name)s is typing…", { name: names[0] });
  else if (names.length === 2)
    typingLine.textContent = fmt("%(first)s and %(second)s are typing…", {
      first: names[0],
      second: names[1],
    });
  else typingLine.textContent = t("Several people are typing…");
}

function renderOnline(online) {
  onlineList.replaceChildren(
    ...online.map((person) => {
      const item = document.createElement("li");
      item.textContent = person.name;
      return item;
    }),
  );
}

// ---------------------------------------------------------------------------- actions

function startEdit(message) {
  editing = { seq: message.seq, draft: message.body };
  render();
  const field = list.querySelector("form.edit textarea");
  if (field) {
    field.focus();
    field.setSelectionRange(field.value.length, field.value.length);
  }
}

function stopEdit() {
  editing = null;
  render();
  textarea.focus();
}

function editForm(message) {
  const form = document.createElement("form");
  form.className = "edit";
  const label = document.createElement("label");
  label.textContent = t("Edit your message");
  const field = document.createElement("textarea");
  field.value = editing.draft;
  field.maxLength = bodyMax;
  field.addEventListener("input", () => {
    if (editing) editing.draft = field.value;
  });
  label.append(field);
  const save = Object.assign(document.createElement("button"), { type: "submit", textContent: t("Save") });
  const cancel = button(t("Cancel"), stopEdit);
  form.append(label, save, " ", cancel);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = field.value.trim();
    if (body && body !== message.body) send({ type: "message.edit", seq: message.seq, body });
    stopEdit();
  });
  field.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      stopEdit();
    } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  return form;
}

let reporting = null;

function startReport(message) {
  reporting = message;
  reportDialog.querySelector("textarea").value = "";
  reportDialog.showModal();
}

reportDialog.querySelector("[data-report-form]").addEventListener("submit", () => {
  const reason = reportDialog.querySelector("textarea").value.trim();
  if (reporting && reason) send({ type: "message.report", seq: reporting.seq, reason });
  reporting = null;
});
reportDialog.querySelector("[data-report-cancel]").addEventListener("click", () => {
  reporting = null;
  reportDialog.close();
});

composer.addEventListener("submit", (event) => {
  event.preventDefault();
  const body = textarea.value.trim();
  composerError.textContent = "";
  if (!body) return;
  if (body.length > bodyMax) {
    composerError.textContent = fmt("A message holds at most %(max)s characters.", { max: bodyMax });
    return;
  }
  textarea.value = "";
  queue(body);
});

// Tell the room while the person types (every 2 s at most; the others show it for 5 s).
textarea.addEventListener("input", () => {
  const now = Date.now();
  if (textarea.value.trim() && ready && now - typingSentAt > TYPING_EVERY_MS) {
    typingSentAt = now;
    send({ type: "typing" });
  }
});

textarea.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    composer.requestSubmit();
  } else if (event.key === "ArrowUp" && !textarea.value) {
    const mine = [...messages.values()]
      .filter((m) => m.author?.id === me.id && !m.deleted && !m.hidden)
      .sort((a, b) => b.seq - a.seq)[0];
    if (mine) {
      event.preventDefault();
      startEdit(mine);
    }
  }
});

loadEarlier.addEventListener("click", () => {
  if (firstSeq !== null) send({ type: "history.fetch", before: firstSeq, limit: 50 });
});

// Resend what waits without an echo, and keep the server's last seq in view.
setInterval(() => {
  if (ready) flushOutbox();
}, 5000);

render();
connect();
