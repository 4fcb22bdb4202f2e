// A meeting live: the member's view and, for whoever may run it, the chair's console
// (protocol: docs/protocol.md, "The meeting socket").
//
// - The server owns the state: each `meeting.state` frame is the whole of it, and the one
//   with the highest version is drawn; older ones are ignored.
// - Countdowns are drawn from the turn's deadline and the server's clock
//   (offset = server_time − local clock at each frame), never from a local timer.
// - A screen reader hears the changes (item, speaker, ten seconds left, time up) through
//   one polite live region; the countdown itself is a timer it does not read out.
const t = (text) => (typeof window.gettext === "function" ? window.gettext(text) : text);
const fmt = (text, values) =>
  typeof window.interpolate === "function"
    ? window.interpolate(t(text), values, true)
    : t(text).replace(/%\((\w+)\)s/g, (_m, key) => values[key]);

const root = document.getElementById("live");
const myId = Number(root.dataset.userId);
const isManager = root.dataset.manager === "true";
const zone = root.dataset.timezone;
const locale = root.dataset.language === "fr" ? "fr-CA" : "en-CA";
const $ = (selector) => root.querySelector(selector);

const els = {
  connection: $("[data-live-connection]"),
  status: $("[data-status]"),
  nowTitle: $("[data-now-title]"),
  turn: $("[data-turn]"),
  speaker: $("[data-speaker]"),
  countdown: $("[data-countdown]"),
  paused: $("[data-paused]"),
  next: $("[data-next]"),
  announce: $("[data-announce]"),
  console: $("[data-console]"),
  consoleNote: $("[data-console-note]"),
  consoleError: $("[data-console-error]"),
  order: $("[data-order]"),
  queue: $("[data-queue]"),
  queueEmpty: $("[data-queue-empty]"),
  queueAdd: $("[data-queue-add]"),
  candidates: $("[data-queue-candidates]"),
  sound: $("[data-sound]"),
  shortcuts: $("[data-shortcuts]"),
  lines: $("[data-lines]"),
  linesHeading: $("[data-lines-heading]"),
  linesForm: $("[data-lines-form]"),
  linesStatus: $("[data-lines-status]"),
  agenda: $("[data-agenda]"),
  spoken: $("[data-spoken]"),
  spokenRows: $("[data-spoken-rows]"),
  present: $("[data-present]"),
};
const buttons = new Map(
  [...root.querySelectorAll("button[data-command]")].map((b) => [b.dataset.command, b]),
);

const timeFormat = new Intl.DateTimeFormat(locale, { timeZone: zone, timeStyle: "short" });

let state = null; // the meeting.state drawn
let offset = 0; // server clock − local clock, in ms
let socket = null;
let attempts = 0;
let reconnectTimer = null;
let watchdog = null;
let finalClose = null;
let requestSeq = 0;
let warnedFor = null; // the deadline whose "ten seconds left" was announced
let upFor = null; // the deadline whose end was announced (and sounded)
let linesFor = null; // the turn (speaker and start) the lines box is for

// ------------------------------------------------------------------------ the clock

const serverNow = () => Date.now() + offset;

function setClock(serverTime) {
  if (serverTime) offset = Date.parse(serverTime) - Date.now();
}

function msLeft() {
  const rt = state && state.roundtable;
  if (!rt || !rt.current_speaker) return null;
  if (rt.paused_ms !== null && rt.paused_ms !== undefined) return rt.paused_ms;
  if (!rt.turn_ends_at) return null;
  return Math.max(0, Date.parse(rt.turn_ends_at) - serverNow());
}

function clockText(ms) {
  const seconds = Math.ceil(ms / 1000);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

function durationText(seconds) {
  if (seconds < 60) return fmt("%(s)s s", { s: seconds });
  return fmt("%(m)s min %(s)s s", { m: Math.floor(seconds / 60), s: seconds % 60 });
}

function announce(text) {
  // Cleared first, so the same words said twice are heard twice.
  els.announce.textContent = "";
  setTimeout(() => {
    els.announce.textContent = text;
  }, 50);
}

function beep() {
  try {
    const Context = window.AudioContext || window.webkitAudioContext;
    const audio = new Context();
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.2, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.6);
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.6);
    tone.addEventListener("ended", () => audio.close());
  } catch (error) {
    // No audio here: the countdown still shows.
  }
}

function tick() {
  const left = msLeft();
  if (left === null) return;
  els.countdown.textContent = clockText(left);
  const rt = state.roundtable;
  const running = rt.paused_ms === null || rt.paused_ms === undefined;
  els.countdown.classList.toggle("warning", running && left <= 10000);
  if (!running) return;
  const deadline = rt.turn_ends_at;
  if (left <= 10000 && left > 0 && warnedFor !== deadline) {
    warnedFor = deadline;
    announce(t("Ten seconds left."));
  }
  if (left === 0 && upFor !== deadline) {
    upFor = deadline;
    announce(t("Time is up."));
    if (els.sound && els.sound.checked) beep();
  }
}
setInterval(tick, 200);

// ------------------------------------------------------------------------ drawing

const name = (person) => (person ? person.name : "");

function mayRun() {
  if (!state) return false;
  if (isManager) return true;
  return [state.chair, state.backup].some((person) => person && person.id === myId);
}

// Whether the server takes this person's commands now (it decides; this only picks what
// to show): the backup only once the chair handed over (or has been away 30 s, which
// only the server knows — the console stays shown to the backup, with a note).
function mayRunNow() {
  if (!mayRun()) return false;
  if (isManager || (state.chair && state.chair.id === myId)) return true;
  return state.handed_over;
}

function currentItem() {
  return state.items.find((item) => item.id === state.current_item) || null;
}

function span(text, className) {
  const el = document.createElement("span");
  el.textContent = text;
  if (className) el.className = className;
  return el;
}

function timeText(iso) {
  return iso ? timeFormat.format(new Date(iso)) : "";
}

function drawAgenda() {
  els.agenda.replaceChildren(
    ...state.items.map((item) => {
      const li = document.createElement("li");
      li.dataset.item = item.id;
      const current = item.id === state.current_item;
      li.classList.toggle("current", current);
      li.classList.toggle("done", Boolean(item.ended_at) && !current);
      if (current) li.setAttribute("aria-current", "step");
      li.append(span(item.title, "title"));
      if (current) li.append(" ", span(t("now"), "badge now"));
      const when = item.started_at
        ? fmt("started %(start)s", { start: timeText(item.started_at) }) +
          (item.ended_at && !current ? fmt(", ended %(end)s", { end: timeText(item.ended_at) }) : "")
        : fmt("planned %(start)s–%(end)s", {
            start: timeText(item.planned_start),
            end: timeText(item.planned_end),
          });
      li.append(" ", span(when, "meta"));
      return li;
    }),
  );
}

function drawNow(previous) {
  const labels = {
    scheduled: t("Not started yet"),
    live: t("Live"),
    ended: t("The meeting has ended."),
  };
  els.status.textContent = labels[state.status] || "";
  const item = currentItem();
  els.nowTitle.textContent =
    state.status === "ended" ? t("The meeting has ended.") : item ? item.title : t("Not started yet");
  const rt = state.roundtable;
  const speaker = rt.current_speaker;
  els.turn.hidden = !speaker;
  if (speaker) {
    els.speaker.textContent = speaker.id === myId ? fmt("%(name)s (you)", { name: speaker.name }) : speaker.name;
    const paused = rt.paused_ms !== null && rt.paused_ms !== undefined;
    els.paused.hidden = !paused;
    els.next.textContent = rt.queue.length
      ? fmt("Next: %(name)s", { name: rt.queue[0].name })
      : t("Last speaker.");
    tick();
  }
  // What changed, said once.
  const before = previous || { status: null, current_item: null, roundtable: {} };
  const said = [];
  if (state.status !== before.status && state.status === "ended") said.push(t("The meeting has ended."));
  if (state.current_item !== before.current_item && item) said.push(fmt("Now: %(title)s.", { title: item.title }));
  const beforeSpeaker = before.roundtable.current_speaker;
  if (speaker && (!beforeSpeaker || beforeSpeaker.id !== speaker.id || before.roundtable.turn_started_at !== rt.turn_started_at)) {
    said.push(
      speaker.id === myId
        ? t("It is your turn to speak.")
        : fmt("%(name)s is speaking.", { name: speaker.name }),
    );
  }
  if (speaker && beforeSpeaker && beforeSpeaker.id === speaker.id) {
    const pausedNow = rt.paused_ms !== null && rt.paused_ms !== undefined;
    const pausedBefore = before.roundtable.paused_ms !== null && before.roundtable.paused_ms !== undefined;
    if (pausedNow !== pausedBefore) said.push(pausedNow ? t("The turn is paused.") : t("The turn goes on."));
  }
  if (said.length) announce(said.join(" "));
}

function drawConsole() {
  const show = mayRun();
  els.console.hidden = !show;
  if (!show) return;
  const isBackup = state.backup && state.backup.id === myId;
  const isChair = state.chair && state.chair.id === myId;
  els.consoleNote.hidden = !(isBackup && !isChair && !isManager && !state.handed_over);
  const live = state.status === "live";
  const rt = state.roundtable;
  const speaking = Boolean(rt.current_speaker);
  const paused = speaking && rt.paused_ms !== null && rt.paused_ms !== undefined;
  const item = currentItem();
  const index = item ? state.items.indexOf(item) : -1;
  const enable = {
    "meeting.start": state.status === "scheduled",
    "agenda.next": live && index < state.items.length - 1,
    "agenda.previous": live && index > 0,
    "roundtable.start": live && !speaking && item && item.kind === "roundtable",
    "turn.next": live && speaking,
    "turn.pass": live && speaking,
    "turn.extend": live && speaking && rt.extensions < 2,
    "turn.pause": live && speaking && !paused,
    "turn.resume": live && speaking && paused,
    "chair.handover": live && Boolean(state.backup) && !state.handed_over,
    "meeting.end": live,
  };
  for (const [command, button] of buttons) {
    // Disabled controls stay in the page (and in the tab order's place): aria-disabled
    // keeps them focusable, so a keyboard user learns what is there.
    const on = Boolean(enable[command]);
    button.setAttribute("aria-disabled", String(!on));
    button.classList.toggle("off", !on);
  }
  // What can never apply to this run or this person is not shown at all.
  buttons.get("meeting.start").hidden = state.status !== "scheduled";
  buttons.get("meeting.end").hidden = state.status === "ended";
  buttons.get("chair.handover").hidden = !(isChair || isManager) || !state.backup;
  buttons.get("turn.pause").hidden = paused;
  buttons.get("turn.resume").hidden = !paused;
  $("[data-roundtable-start]").hidden = !(item && item.kind === "roundtable");

  els.queue.replaceChildren(
    ...rt.queue.map((person, position) => {
      const li = document.createElement("li");
      li.dataset.user = person.id;
      li.append(span(person.name, "name"));
      const up = document.createElement("button");
      up.type = "button";
      up.className = "link";
      up.textContent = t("Up");
      up.setAttribute("aria-label", fmt("Move %(name)s up", { name: person.name }));
      up.hidden = position === 0;
      up.addEventListener("click", () => send("queue.move", { user: person.id, position: position - 1 }));
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link";
      remove.textContent = t("Remove");
      remove.setAttribute("aria-label", fmt("Remove %(name)s from the queue", { name: person.name }));
      remove.addEventListener("click", () => send("queue.remove", { user: person.id }));
      li.append(" ", up, " ", remove);
      return li;
    }),
  );
  els.queueEmpty.hidden = rt.queue.length > 0;
  const waiting = new Set([...rt.queue.map((p) => p.id), rt.current_speaker && rt.current_speaker.id]);
  const candidates = state.present.filter((person) => !waiting.has(person.id));
  const chosen = els.candidates.value;
  els.candidates.replaceChildren(
    ...candidates.map((person) => {
      const option = document.createElement("option");
      option.value = person.id;
      option.textContent = person.name;
      return option;
    }),
  );
  if (candidates.some((person) => String(person.id) === chosen)) els.candidates.value = chosen;
  els.queueAdd.hidden = !(live && (speaking || rt.done.length || rt.passed.length) && candidates.length);
}

function drawLines() {
  const rt = state.roundtable;
  const speaker = rt.current_speaker;
  const mine = speaker && speaker.id === myId;
  const forThem = speaker && !mine && mayRunNow();
  els.lines.hidden = !(state.status === "live" && (mine || forThem));
  if (els.lines.hidden) return;
  els.linesHeading.textContent = mine
    ? t("Your turn: your two lines")
    : fmt("Lines for %(name)s", { name: speaker.name });
  els.linesForm.querySelector("button").textContent = mine ? t("Save my lines") : t("Save their lines");
  const turn = `${speaker.id}@${rt.turn_started_at}`;
  if (linesFor !== turn) {
    // A new turn: an empty box (the lines are kept on each turn) — unless the page came
    // with this turn's lines already saved (a reload during it).
    const loaded = linesFor === null && els.linesForm.dataset.linesTurn === turn;
    linesFor = turn;
    if (!loaded) {
      for (const field of els.linesForm.elements) {
        if (field.type === "checkbox") field.checked = false;
        else if (field.tagName === "INPUT") field.value = "";
      }
    }
    els.linesStatus.textContent = "";
  }
}

function drawSpoken() {
  const rt = state.roundtable;
  const rows = rt.spoken || [];
  els.spoken.hidden = !(rows.length && !rt.current_speaker);
  if (els.spoken.hidden) return;
  const longest = Math.max(...rows.map((row) => row.seconds), 1);
  els.spokenRows.replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement("tr");
      const who = document.createElement("td");
      who.textContent = row.name;
      const how = document.createElement("td");
      const meter = document.createElement("meter");
      meter.max = longest;
      meter.value = row.seconds;
      meter.setAttribute("aria-hidden", "true");
      how.append(span(durationText(row.seconds)), " ", meter);
      tr.append(who, how);
      return tr;
    }),
  );
}

function drawPresent() {
  els.present.replaceChildren(
    ...state.present.map((person) => {
      const li = document.createElement("li");
      li.textContent = person.name;
      const roles = [];
      if (state.chair && state.chair.id === person.id) roles.push(t("chair"));
      if (state.backup && state.backup.id === person.id) roles.push(t("backup"));
      if (roles.length) li.append(" ", span(`(${roles.join(", ")})`, "meta"));
      return li;
    }),
  );
}

function draw(frame) {
  if (state && frame.version < state.version) return; // an older state: already past it
  const previous = state;
  state = frame;
  root.dataset.version = frame.version;
  drawAgenda();
  drawNow(previous);
  drawConsole();
  drawLines();
  drawSpoken();
  drawPresent();
}

// ------------------------------------------------------------------------ commands

function showError(text) {
  els.consoleError.textContent = text;
}

function send(type, fields = {}) {
  if (!socket || socket.readyState !== WebSocket.OPEN) {
    showError(t("Not connected: wait a moment and try again."));
    return null;
  }
  requestSeq += 1;
  const requestId = `r${requestSeq}`;
  socket.send(JSON.stringify({ type, request_id: requestId, ...fields }));
  return requestId;
}

function command(type) {
  const button = buttons.get(type);
  if (button && button.getAttribute("aria-disabled") === "true") return;
  if (type === "meeting.end" && !window.confirm(t("End the meeting for everyone? It cannot be started again."))) return;
  const fields = {};
  const speaker = state && state.roundtable.current_speaker;
  // A turn command names the turn it is for: pressed as the turn runs out, it does not
  // skip the next speaker.
  if (type.startsWith("turn.") && speaker) fields.speaker = speaker.id;
  if (type === "roundtable.start") fields.order = els.order.value;
  showError("");
  send(type, fields);
}

for (const [type, button] of buttons) {
  button.addEventListener("click", () => command(type));
}

els.queueAdd.addEventListener("submit", (event) => {
  event.preventDefault();
  if (els.candidates.value) send("queue.add", { user: Number(els.candidates.value) });
});

els.linesForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const form = els.linesForm;
  els.linesStatus.textContent = t("Saving…");
  send("turn.lines", {
    challenge: form.elements.challenge.value,
    help: form.elements.help.value,
    private: form.elements.private.checked,
  });
});

// For the minutes: a note, a decision or an action item on the item under way.
const record = $("[data-record]");
const recordStatus = $("[data-record-status]");
const recordKind = $("[data-record-kind]");
const recordAction = $("[data-record-action]");
recordKind.addEventListener("change", () => {
  recordAction.hidden = recordKind.value !== "action.add";
});
record.addEventListener("submit", (event) => {
  event.preventDefault();
  const fields = { text: record.elements.text.value };
  if (recordKind.value === "action.add") {
    fields.owner = Number(record.elements.owner.value);
    if (record.elements.due.value) fields.due = record.elements.due.value;
  }
  recordStatus.textContent = t("Saving…");
  send(recordKind.value, fields);
});

const SHORTCUTS = {
  n: "turn.next",
  p: "turn.pass",
  e: "turn.extend",
  ArrowRight: "agenda.next",
  ArrowLeft: "agenda.previous",
};

const shortcutsKey = "meeting-shortcuts";
if (localStorage.getItem(shortcutsKey) === "off") els.shortcuts.checked = false;
els.shortcuts.addEventListener("change", () => {
  localStorage.setItem(shortcutsKey, els.shortcuts.checked ? "on" : "off");
});

document.addEventListener("keydown", (event) => {
  if (!mayRun() || !els.shortcuts.checked) return;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target.closest("input, textarea, select, [contenteditable], dialog")) return;
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  let type = SHORTCUTS[key];
  if (key === "k" && state) type = state.roundtable.paused_ms != null ? "turn.resume" : "turn.pause";
  if (!type) return;
  event.preventDefault();
  command(type);
});

// ------------------------------------------------------------------------ the socket

// Refusals of a note, decision or action item: shown next to its form.
const RECORD_CODES = new Set(["not_recorder", "no_text", "too_long", "bad_owner", "bad_due", "due_past"]);

const handlers = {
  "meeting.state": (frame) => {
    setClock(frame.server_time);
    attempts = 0;
    setStatus(t("Connected."));
    draw(frame);
  },
  heartbeat: (frame) => {
    setClock(frame.server_time);
    // A higher version than the one drawn: a state frame was lost. The next connection
    // starts with the whole state.
    if (state && frame.version > state.version && socket) socket.close();
  },
  pong: (frame) => setClock(frame.server_time),
  "turn.warning": (frame) => setClock(frame.server_time),
  "command.done": () => showError(""),
  "minutes.recorded": (frame) => {
    const words = { note: t("Note recorded."), decision: t("Decision recorded."), action: t("Action item recorded.") };
    recordStatus.textContent = words[frame.kind] || t("Saved.");
    record.elements.text.value = "";
  },
  "turn.lines.saved": () => {
    els.linesStatus.textContent = t("Saved.");
  },
  error: (frame) => {
    if (frame.code && frame.code.startsWith("line")) els.linesStatus.textContent = frame.detail;
    else if (RECORD_CODES.has(frame.code)) recordStatus.textContent = frame.detail;
    else showError(frame.detail || frame.code);
  },
};

function setStatus(text) {
  els.connection.textContent = text;
}

function armWatchdog() {
  clearTimeout(watchdog);
  // Heartbeats come every 15 s: two missed, and the connection is dead.
  watchdog = setTimeout(() => socket && socket.close(), 35000);
}

function scheduleReconnect() {
  attempts += 1;
  const delay = Math.min(15000, 500 * 2 ** Math.min(attempts, 5)) * (0.5 + Math.random() / 2);
  setStatus(t("Connection lost. Reconnecting…"));
  reconnectTimer = setTimeout(connect, delay);
}

function connect() {
  clearTimeout(reconnectTimer);
  if (finalClose) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}${root.dataset.wsPath}`);
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
    clearTimeout(watchdog);
    const reasons = {
      4401: t("You are signed out. Sign in again to follow the meeting."),
      4403: t("You are not a member of this community any more."),
      4404: t("This meeting does not exist."),
      4429: t("You have too many windows open. Close some, then reload this page."),
    };
    if (reasons[event.code]) {
      finalClose = reasons[event.code];
      setStatus(finalClose);
      return;
    }
    if (event.code === 4012) {
      setStatus(t("Reconnecting…"));
      reconnectTimer = setTimeout(connect, Math.random() * 500);
      return;
    }
    scheduleReconnect();
  });
}

connect();
