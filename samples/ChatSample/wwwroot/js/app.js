// The chat page: plain JavaScript on the @microsoft/signalr browser client (served from /lib, installed by npm).
// Hub methods and events are listed in the sample's README.

const DEFAULT_ROOMS = ["lobby", "random"];
const TYPING_SEND_INTERVAL_MS = 2000;
const TYPING_SHOW_MS = 3000;
const PRESENCE_DEBOUNCE_MS = 150;
// After a reconnect attempt failed, wait this long before the next one.
const RECONNECT_DELAY_MS = 500;

const $ = (id) => document.getElementById(id);

const state = {
  connection: null,
  user: null,
  server: null,            // the process this page is connected to: { instance, port, processId, machineName, database }
  pageServer: null,        // the process that served this page
  joinedRooms: new Set(),
  knownRooms: new Set(DEFAULT_ROOMS),
  roomCounts: {},
  target: null,            // { kind: "room" | "user", name }
  lastTypingSent: { room: null, at: 0 },
  typingTimers: new Map(), // "room/user" -> timeout id
  presenceTimer: 0,
  filter: "",              // "" (everything), a room name, or "@" (direct messages)
};

// ---- Page start ----

showInstance();
const requestedName = new URLSearchParams(location.search).get("user");
if (requestedName) {
  $("name").value = requestedName;
  connect(requestedName);
}
$("name").focus();

$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  connect($("name").value);
});

$("join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  joinRoom($("room").value);
});

$("send-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sendMessage();
});

$("message").addEventListener("input", sendTypingThrottled);

$("filter").addEventListener("change", () => {
  state.filter = $("filter").value;
  applyFilter();
});

$("leave").addEventListener("click", () => {
  if (state.target?.kind === "room") {
    leaveRoom(state.target.name);
  }
});

async function showInstance() {
  try {
    const response = await fetch("api/instance");
    state.pageServer = await response.json();
    if (!state.server) {
      showServer(state.pageServer);
    }
  } catch (error) {
    $("instance").textContent = "instance unknown";
  }
}

/** Shows the process this page talks to now. */
function showServer(server) {
  state.server = server;
  const { instance, processId, port } = server;
  const badge = $("instance");
  const movedFrom = state.pageServer && state.pageServer.port !== port ? ` (page from instance ${state.pageServer.instance})` : "";
  badge.textContent = `instance ${instance} · pid ${processId} · port ${port}${movedFrom}`;
  badge.dataset.instance = instance;
  badge.dataset.pid = processId;
  badge.dataset.port = port;
  document.title = `Chat · instance ${instance} (:${port})`;
}

// ---- Connection ----

async function connect(rawName) {
  const name = rawName.trim();
  $("login-error").textContent = "";
  if (!name) {
    $("login-error").textContent = "Pick a name first.";
    return;
  }
  $("connect").disabled = true;

  const builder = new signalR.HubConnectionBuilder()
    // One URL, the page's own: behind the launcher's front door it reaches whichever instance is alive, so the page
    // never switches origins.
    .withUrl(`hubs/chat?user=${encodeURIComponent(name)}`)
    // Never give up: retry at once, then every RECONNECT_DELAY_MS, until an instance answers (the front door takes a
    // dead instance out within a second, and the launcher restarts it).
    .withAutomaticReconnect({
      nextRetryDelayInMilliseconds: (retry) => (retry.previousRetryCount === 0 ? 0 : RECONNECT_DELAY_MS),
    })
    .withStatefulReconnect()
    .configureLogging(signalR.LogLevel.Warning);
  // Resume (the npm helper, lib/signalr-resume.js): after a reconnect, to any instance and even after the old one was
  // killed, the server first sends what this page missed, exactly once and in order; those messages reach the
  // handlers below like live ones. When it cannot (away longer than the resume window), the page says so.
  sqliteBackplaneResume.withSqliteBackplaneResume(builder, { onGap: showResumeGap });
  const connection = builder.build();

  connection.on("roomMessage", (message) => addMessage("room", message));
  connection.on("directMessage", (message) => addMessage("direct", message));
  connection.on("roomNotice", (notice) => addMessage("notice", notice));
  connection.on("typing", showTyping);
  connection.on("presenceChanged", schedulePresenceRefresh);
  // The backplane's pushed presence changes, a crashed process's included: no polling.
  connection.on("presence", schedulePresenceRefresh);
  // A client result: the server's PingUser waits for this return value.
  connection.on("ping", (fromUser) => `pong from ${state.user} on instance ${state.server?.instance ?? "?"}`);

  connection.onreconnecting(() => setStatus("reconnecting"));
  const onReconnected = async () => {
    setStatus("connected");
    // A full reconnect is a new connection, maybe on another instance: say where, and join the rooms again.
    const before = state.server;
    await welcome(connection).catch(showError);
    if (before?.processId !== state.server.processId) {
      addMessage("system", { text: `Reconnected to instance ${state.server.instance} (pid ${state.server.processId}, port ${state.server.port}).` });
    }
    for (const room of state.joinedRooms) {
      await connection.invoke("JoinRoom", room).catch(showError);
    }
    schedulePresenceRefresh();
  };
  connection.onreconnected(onReconnected);
  connection.onclose(async (error) => {
    if (state.connection !== connection) {
      return;
    }
    // An instance that stops (a deploy) closes its connections without offering a reconnect: start again through the
    // front door, which sends the page to a running instance; the resume helper resumes a manual start too.
    setStatus("reconnecting");
    for (;;) {
      try {
        await connection.start();
        await onReconnected();
        return;
      } catch (startError) {
        $("chat-error").textContent = `Disconnected (${(error ?? startError).message}); trying again.`;
        await new Promise((resolve) => setTimeout(resolve, RECONNECT_DELAY_MS));
      }
    }
  });

  try {
    await connection.start();
    await welcome(connection);
    state.connection = connection;
    setStatus("connected");
    $("login").hidden = true;
    $("chat").hidden = false;
    await joinRoom("lobby");
    $("message").focus();
  } catch (error) {
    $("login-error").textContent = error.message.replace(/^.*HubException: /, "");
    $("connect").disabled = false;
    await connection.stop();
  }
}

/** Resume was impossible: messages sent while the page was disconnected may be missing from the timeline. */
function showResumeGap(reason) {
  addMessage("system", { text: `Messages sent while this page was disconnected could not be recovered (${reason}); the timeline may have a gap.` });
  schedulePresenceRefresh();
}

/** Asks the server who we are and which instance holds the connection, and shows it. */
async function welcome(connection) {
  const hello = await connection.invoke("Hello");
  state.user = hello.user;
  $("status").title = `connection ${hello.connectionId}`;
  showServer(hello.server);
}

function setStatus(text) {
  $("status").textContent = text;
  $("status").dataset.state = text;
}

function showError(error) {
  $("chat-error").textContent = error.message.replace(/^.*HubException: /, "");
}

// ---- Rooms, direct messages, typing ----

async function joinRoom(rawRoom) {
  try {
    const room = await state.connection.invoke("JoinRoom", rawRoom);
    state.joinedRooms.add(room);
    state.knownRooms.add(room);
    selectTarget({ kind: "room", name: room });
    $("chat-error").textContent = "";
    renderRooms();
  } catch (error) {
    showError(error);
  }
}

async function leaveRoom(room) {
  try {
    await state.connection.invoke("LeaveRoom", room);
    state.joinedRooms.delete(room);
    const next = [...state.joinedRooms][0];
    selectTarget(next ? { kind: "room", name: next } : null);
    renderRooms();
  } catch (error) {
    showError(error);
  }
}

function selectTarget(target) {
  state.target = target;
  $("target").textContent = !target ? "nobody yet" : target.kind === "room" ? `#${target.name}` : `@${target.name}`;
  $("target").dataset.kind = target?.kind ?? "";
  $("leave").hidden = target?.kind !== "room";
  renderRooms();
}

async function sendMessage() {
  const input = $("message");
  const text = input.value.trim();
  if (!text || !state.target) {
    return;
  }
  try {
    if (state.target.kind === "room") {
      await state.connection.invoke("SendToRoom", state.target.name, text);
    } else {
      const delivered = await state.connection.invoke("SendDirect", state.target.name, text);
      if (!delivered) {
        throw new Error(`${state.target.name} is not online.`);
      }
    }
    input.value = "";
    $("chat-error").textContent = "";
  } catch (error) {
    showError(error);
  }
}

function sendTypingThrottled() {
  const now = Date.now();
  const room = state.target?.kind === "room" ? state.target.name : null;
  const last = state.lastTypingSent;
  if (!room || (last.room === room && now - last.at < TYPING_SEND_INTERVAL_MS)) {
    return;
  }
  state.lastTypingSent = { room, at: now };
  state.connection.invoke("Typing", room).catch(() => { /* Typing is best effort. */ });
}

function showTyping(room, user) {
  const key = `${room}/${user}`;
  clearTimeout(state.typingTimers.get(key));
  state.typingTimers.set(key, setTimeout(() => {
    state.typingTimers.delete(key);
    renderTyping();
  }, TYPING_SHOW_MS));
  renderTyping();
}

function renderTyping() {
  const typists = [...state.typingTimers.keys()].map((key) => {
    const [room, user] = key.split(/\/(.*)/s);
    return `${user} in #${room}`;
  });
  $("typing").textContent = typists.length ? `${typists.join(", ")} typing…` : "";
}

async function pingUser(user) {
  try {
    const result = await state.connection.invoke("PingUser", user);
    addMessage("system", { text: `Ping ${result.user}: "${result.reply}" in ${result.roundTripMilliseconds.toFixed(1)} ms` });
  } catch (error) {
    showError(error);
  }
}

// ---- Messages ----

function addMessage(kind, message) {
  const item = document.createElement("li");
  item.className = `message ${kind}`;
  item.dataset.kind = kind;

  const time = new Date(message.sentAt ?? message.at ?? Date.now());
  appendSpan(item, "time", time.toLocaleTimeString());

  if (kind === "room") {
    item.dataset.room = message.room;
    item.dataset.from = message.from;
    appendSpan(item, "where", `#${message.room}`);
    appendSpan(item, "from", message.from);
  } else if (kind === "direct") {
    item.dataset.from = message.from;
    item.dataset.to = message.to;
    appendSpan(item, "where", message.from === state.user ? `to @${message.to}` : `from @${message.from}`);
  } else if (kind === "notice") {
    item.dataset.room = message.room;
    appendSpan(item, "where", `#${message.room}`);
  }
  appendSpan(item, "text", message.text);
  if (message.servedBy !== undefined) {
    const via = appendSpan(item, "via", `via instance ${message.servedBy}`);
    via.title = "The instance whose process sent this message through the backplane";
  }

  item.hidden = !isShown(item);
  const list = $("messages");
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
  list.append(item);
  if (atBottom) {
    list.scrollTop = list.scrollHeight;
  }
}

// ---- Timeline filter: one room, direct messages, or everything. System and presence lines always show. ----

function isShown(item) {
  const kind = item.dataset.kind;
  if (!state.filter || kind === "system" || kind === "presence") {
    return true;
  }
  return state.filter === "@" ? kind === "direct" : item.dataset.room === state.filter;
}

function applyFilter() {
  for (const item of $("messages").children) {
    item.hidden = !isShown(item);
  }
}

function renderFilter() {
  const select = $("filter");
  const options = [["", "everything"], ...[...state.knownRooms].sort().map((room) => [room, `#${room}`]), ["@", "direct messages"]];
  // Rebuild only when the rooms changed, so that a periodic refresh does not close an open list.
  if (select.options.length !== options.length) {
    select.replaceChildren(...options.map(([value, label]) => new Option(label, value, false, value === state.filter)));
  }
}

function appendSpan(parent, className, text) {
  const span = document.createElement("span");
  span.className = className;
  span.textContent = text;
  parent.append(span);
  return span;
}

// ---- Presence (who is online, room sizes, servers) across every process ----
// The page asks GetPresence when the server pushes a presence change (the backplane's: a connection or user came or
// went on any process, a process joined, stopped or crashed), when a room's members change (presenceChanged), and after
// a reconnect; it compares each snapshot with the previous one and reports users and servers that came or went.

const seen = { users: null, servers: null }; // null until the first snapshot: nothing is reported for it

function schedulePresenceRefresh() {
  clearTimeout(state.presenceTimer);
  state.presenceTimer = setTimeout(refreshPresence, PRESENCE_DEBOUNCE_MS);
}

async function refreshPresence() {
  if (state.connection?.state !== signalR.HubConnectionState.Connected) {
    return;
  }
  try {
    const snapshot = await state.connection.invoke("GetPresence", [...state.knownRooms]);
    state.roomCounts = snapshot.roomMemberCounts;
    renderRooms();
    renderOnline(snapshot.onlineUsers, snapshot.connectionCount);
    renderServers(snapshot.servers);
    seen.users = reportChanges(seen.users, new Map(snapshot.onlineUsers.map((user) => [user, user])), userCame, userLeft);
    seen.servers = reportChanges(seen.servers, new Map(snapshot.servers.map((server) => [server.processId, server])), serverCame, serverLeft);
  } catch (error) {
    showError(error);
  }
}

/** Calls `came` for each key of `now` missing from `before`, `left` for each key of `before` missing from `now`; returns `now`. */
function reportChanges(before, now, came, left) {
  if (before) {
    for (const [key, value] of now) if (!before.has(key)) came(value);
    for (const [key, value] of before) if (!now.has(key)) left(value);
  }
  return now;
}

function userCame(user) {
  addPresenceLine("user-came", `${user} is online`, { user });
}

function userLeft(user) {
  addPresenceLine("user-left", `${user} left`, { user });
}

function serverCame(server) {
  addPresenceLine("server-came", `Server pid ${server.processId} joined`, { pid: server.processId });
}

function serverLeft(server) {
  addPresenceLine("server-left", `Server pid ${server.processId} left; its connections are gone`, { pid: server.processId });
}

function addPresenceLine(event, text, data) {
  addMessage("presence", { text });
  Object.assign($("messages").lastElementChild.dataset, { event, ...data });
}

function renderRooms() {
  const list = $("rooms");
  list.replaceChildren();
  for (const room of [...state.knownRooms].sort()) {
    const joined = state.joinedRooms.has(room);
    const item = document.createElement("li");
    item.dataset.room = room;
    item.classList.toggle("joined", joined);
    item.classList.toggle("active", state.target?.kind === "room" && state.target.name === room);

    const name = document.createElement("button");
    name.type = "button";
    name.className = "link";
    name.textContent = `#${room}`;
    name.title = joined ? "Write to this room" : "Join this room";
    name.addEventListener("click", () => (joined ? selectTarget({ kind: "room", name: room }) : joinRoom(room)));
    item.append(name);

    const count = appendSpan(item, "count", String(state.roomCounts[room] ?? 0));
    count.title = "Connections in this room, on every process";
    list.append(item);
  }
  renderFilter();
}

function renderOnline(users, connectionCount) {
  $("online-count").textContent = `${users.length} users · ${connectionCount} connections`;
  const list = $("online");
  list.replaceChildren();
  for (const user of users) {
    const item = document.createElement("li");
    item.dataset.user = user;
    item.classList.toggle("me", user === state.user);
    item.classList.toggle("active", state.target?.kind === "user" && state.target.name === user);
    appendSpan(item, "user", user === state.user ? `${user} (you)` : user);

    const message = document.createElement("button");
    message.type = "button";
    message.className = "small dm";
    message.textContent = "DM";
    message.addEventListener("click", () => selectTarget({ kind: "user", name: user }));

    const ping = document.createElement("button");
    ping.type = "button";
    ping.className = "small ping";
    ping.textContent = "Ping";
    ping.title = "A client result: the server asks that user's browser for a reply, on whichever process holds it";
    ping.addEventListener("click", () => pingUser(user));

    item.append(message, ping);
    list.append(item);
  }
}

function renderServers(servers) {
  const list = $("servers");
  list.replaceChildren();
  for (const server of servers) {
    const item = document.createElement("li");
    item.dataset.pid = server.processId;
    const mine = server.processId === state.server?.processId;
    item.classList.toggle("me", mine);
    appendSpan(item, "server", `pid ${server.processId}${mine ? " (this connection)" : ""}`);
    appendSpan(item, "count", `${server.connectionCount} conn`);
    list.append(item);
  }
}
