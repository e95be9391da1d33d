// Stateful reconnect across a transport drop, with every message coming through the SQLite backplane from the
// OTHER server process (the bug class of dotnet/aspnetcore#55575: backplane messages must count in the server's
// stateful-reconnect sequence, or the client loses or duplicates messages when it reconnects).
// Usage: node stateful-reconnect.mjs <server1 base url> <server2 base url> [--resume]
//
// alice (server 1) uses withStatefulReconnect(). Her WebSocket is dropped without a close frame; the reconnect
// is held until server 1 has dispatched messages sent meanwhile (a control client on server 1 receives the last
// of them), then released. alice must receive every message exactly once, in order, on the same connection.
// With --resume (servers with EnableResume), alice also uses the npm resume helper: its reserved invocations must
// count in the stateful-reconnect sequence like any other, and the helper must see no resume and no gap.
import { getSqliteBackplaneResumeState, withSqliteBackplaneResume } from "@sqlite-backplane/signalr-resume";
import { connectTestHub, createDroppableWebSocket, fail, ok, run, signalR, step, withTimeout } from "./lib.mjs";

const resume = process.argv.includes("--resume");
const [url1, url2] = process.argv.slice(2).filter((argument) => argument !== "--resume");
if (!url1 || !url2) {
  console.log("FAIL usage: node stateful-reconnect.mjs <server1 base url> <server2 base url>");
  process.exit(2);
}

const DroppableWebSocket = createDroppableWebSocket();

await run(async (connections) => {
  const gaps = [];
  let alice, control, sender;
  await step("connect alice (stateful reconnect) and a control client to server 1, a sender to server 2", async () => {
    alice = await connectTestHub(url1, "alice", {
      configure: (builder) => (resume ? withSqliteBackplaneResume(builder.withStatefulReconnect(), { onGap: (reason) => gaps.push(reason) }) : builder.withStatefulReconnect()),
      httpOptions: { WebSocket: DroppableWebSocket },
    });
    connections.push(alice.connection);
    [control, sender] = await Promise.all([connectTestHub(url1, "control"), connectTestHub(url2, "sender")]);
    connections.push(control.connection, sender.connection);
    // HttpConnection.features.reconnect is true only when the server agreed to stateful reconnect in negotiation.
    if (alice.connection.connection?.features?.reconnect !== true) {
      fail("the server did not enable stateful reconnect for alice (negotiate did not return useStatefulReconnect: true; is AllowStatefulReconnects set on the hub?)");
    }
    ok(`alice ${alice.connectionId} on ${url1} with stateful reconnect; control ${control.connectionId} on ${url1}; sender ${sender.connectionId} on ${url2}`);
  });

  let aliceClosed = null;
  alice.connection.onclose((error) => (aliceClosed = error ?? new Error("closed without error")));

  // Sends one message from the sender (server 2) to alice by one of several routes; all go through the file.
  const expectedByAlice = [];
  const expectedByControl = [];
  let counter = 0;
  async function send(route) {
    const text = `m${++counter} (${route})`;
    if (route === "all") await sender.invoke("SendAll", text);
    else if (route === "connection") await sender.invoke("SendConnection", alice.connectionId, text);
    else if (route === "user") await sender.invoke("SendUser", "alice", text);
    else fail(`unknown route ${route}`);
    expectedByAlice.push(text);
    if (route === "all") expectedByControl.push(text);
    return text;
  }
  const routes = ["all", "connection", "user"];

  await step("before the drop: 10 messages from server 2 arrive", async () => {
    for (let i = 0; i < 10; i++) await send(routes[i % 3]);
    await send("all");
    await alice.inbox.expect(...expectedByAlice);
    await control.inbox.expect(...expectedByControl);
    ok(`alice received ${expectedByAlice.length} messages from server 2 in order`);
  });

  const beforeDrop = expectedByAlice.length;
  let releaseGate;
  await step("drop alice's WebSocket and hold her reconnect", async () => {
    DroppableWebSocket.gate = new Promise((resolve) => (releaseGate = resolve));
    const reconnecting = new Promise((resolve) => (DroppableWebSocket.onCreated = resolve));
    if (DroppableWebSocket.instances.length !== 1) fail(`expected 1 WebSocket before the drop, found ${DroppableWebSocket.instances.length}`);
    DroppableWebSocket.instances[0].drop();
    await withTimeout(reconnecting, "alice's client to start its stateful reconnect after the drop");
    ok("alice's socket was destroyed; her client started a stateful reconnect (held)");
  });

  await step("while alice is disconnected: 10 more messages from server 2", async () => {
    for (let i = 0; i < 9; i++) await send(routes[i % 3]);
    const last = await send("all");
    // The control client on server 1 receiving the last one proves server 1 dispatched all of them (one global
    // order), so they are in alice's stateful-reconnect buffer on server 1 and not on any live socket.
    await control.inbox.expect(...expectedByControl.slice(control.inbox.read));
    if (control.inbox.items.at(-1) !== last) fail(`control did not end with ${last}`);
    if (aliceClosed) fail(`alice's connection closed: ${aliceClosed}`);
    ok(`server 1 dispatched ${expectedByAlice.length - beforeDrop} messages while alice's transport was down`);
  });

  await step("release the reconnect; alice gets the missed messages once, then new ones", async () => {
    releaseGate();
    const second = DroppableWebSocket.instances[1];
    await withTimeout(second.opened, "alice's reconnect WebSocket to open");
    for (let i = 0; i < 9; i++) await send(routes[i % 3]);
    await send("all");
    await alice.inbox.expect(...expectedByAlice.slice(alice.inbox.read));
    const idAfter = await alice.invoke("GetConnectionId");
    if (idAfter !== alice.connectionId) fail(`alice's connection id changed from ${alice.connectionId} to ${idAfter}: that was a new connection, not a stateful reconnect`);
    ok(`alice received all ${expectedByAlice.length} messages exactly once, in order, on connection ${idAfter}`);
  });

  await step("no duplicates arrive after a later marker; alice can still send", async () => {
    await alice.invoke("SendAll", "marker from alice after reconnect");
    await alice.inbox.expect("marker from alice after reconnect");
    await sender.inbox.expect(...expectedByControl, "marker from alice after reconnect");
    const seen = new Set();
    for (const m of alice.inbox.items) {
      if (seen.has(m)) fail(`alice received ${JSON.stringify(m)} twice: ${JSON.stringify(alice.inbox.items)}`);
      seen.add(m);
    }
    if (alice.inbox.items.length !== expectedByAlice.length + 1) {
      fail(`alice received ${alice.inbox.items.length} messages, expected ${expectedByAlice.length + 1}: ${JSON.stringify(alice.inbox.items)}`);
    }
    if (DroppableWebSocket.instances.length !== 2) fail(`expected exactly 2 WebSockets (original + one reconnect), saw ${DroppableWebSocket.instances.length}`);
    if (aliceClosed) fail(`alice's connection closed: ${aliceClosed}`);
    ok(`no message lost or duplicated across the drop (${expectedByAlice.length} from server 2 + alice's own marker); 1 reconnect`);
  });

  if (resume) {
    await step("the resume helper saw one connection: no resume, no gap, its position advanced", async () => {
      const state = getSqliteBackplaneResumeState(alice.connection);
      if (gaps.length !== 0 || state.gaps !== 0 || state.resumes !== 0 || state.connects !== 1 || !(state.position > 0)) {
        fail(`alice's resume state after a stateful reconnect: ${JSON.stringify(state)}, gaps ${JSON.stringify(gaps)}`);
      }
      ok(`alice's resume helper: 1 connect, no resume, no gap, position ${state.position}`);
    });
  }
});
