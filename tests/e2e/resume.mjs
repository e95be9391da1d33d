// Resume with the repository's @microsoft/signalr helper (clients/js) across two TestServer processes with
// EnableResume: a client that reconnects to the OTHER process gets every message it missed, exactly once, in order.
// Usage: node resume.mjs <server1 base url> <server2 base url> <drop|stop|kill|gap> [server 1 pid] [--messagepack] [--same-server]
//
// alice (helper) and bob (no helper) connect to server 1, join group "g", and reconnect to server 2 when they lose
// server 1 (their retry policy points at server 2, as a load balancer would). A sender on server 2 numbers its
// messages and sends each to All, to group "g", to user alice, or to alice's connection id. Their reconnects are
// held while messages are sent, by one of:
//   drop  their WebSockets are destroyed (no close frame); server 1 keeps running
//   stop  server 1 is stopped gracefully (SIGTERM to the pid)
//   kill  server 1 is killed (SIGKILL to the pid): the resume takes over a connection nobody has reaped yet
//   gap   alice stops her connection and starts it again (manual start, to server 2) after the server's resume
//         window (1 s in the test that runs this mode): she is told of the gap and starts fresh
// alice must end with every number sent to her exactly once, in order, with her group kept; bob behaves as without
// the feature: he misses what was sent while he was away and sees no reserved invocation. With --messagepack, alice
// and bob use the MessagePack hub protocol (the helper wraps it) instead of JSON. With --same-server (drop only), they
// reconnect to server 1 again instead of moving to server 2.
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";
import { getSqliteBackplaneResumeState, withSqliteBackplaneResume } from "@sqlite-backplane/signalr-resume";
import { connectTestHub, createDroppableWebSocket, fail, ok, run, signalR, step, withTimeout } from "./lib.mjs";

const flags = ["--messagepack", "--same-server"];
const messagePack = process.argv.includes("--messagepack");
const sameServer = process.argv.includes("--same-server");
const [url1, url2, mode, pidText] = process.argv.slice(2).filter((argument) => !flags.includes(argument));
const modes = ["drop", "stop", "kill", "gap"];
if (!url1 || !url2 || !modes.includes(mode) || ((mode === "stop" || mode === "kill") && !pidText) || (sameServer && mode !== "drop")) {
  console.log("FAIL usage: node resume.mjs <server1 base url> <server2 base url> <drop|stop|kill|gap> [server 1 pid, for stop and kill] [--messagepack] [--same-server, with drop]");
  process.exit(2);
}
/** The resume window of the servers in gap mode, plus a margin. */
const GAP_WAIT_MS = Number(process.env.E2E_RESUME_GAP_WAIT_MS || 2500);

const origin = (url) => new URL(url).origin;
/** The same hub URL on server 2. */
const onServer2 = (url) => url.replace(origin(url1), origin(url2));
/** Where alice reconnects: server 2, or server 1 again with --same-server. */
const reconnectUrl = sameServer ? url1 : url2;
const reconnectName = sameServer ? "server 1" : "server 2";

/**
 * A logger that records warnings and errors mentioning the reserved methods (the client warns "No client method with
 * the name 'sqlitebackplane:pos' found" for an invocation nobody handles): an app must never see those.
 */
function leakLogger(leaks) {
  return {
    log(level, text) {
      if (level >= signalR.LogLevel.Warning && /sqlitebackplane:/i.test(String(text))) leaks.push(String(text));
    },
  };
}

/**
 * Connects `user` to server 1 over a droppable WebSocket (negotiated), with automatic reconnect to server 2 and,
 * when `resume` is set, the resume helper. Returns the client plus its socket class, leaks and reconnect waiter.
 */
async function connectClient(user, { resume, onGap }) {
  const Sockets = createDroppableWebSocket();
  const leaks = [];
  const client = await connectTestHub(url1, user, {
    httpOptions: { WebSocket: Sockets },
    configure: (builder) => {
      if (messagePack) builder.withHubProtocol(new MessagePackHubProtocol());
      builder
        .configureLogging(leakLogger(leaks))
        .withAutomaticReconnect({ nextRetryDelayInMilliseconds: (retry) => (retry.previousRetryCount === 0 ? 0 : 250) });
      return resume ? withSqliteBackplaneResume(builder, { onGap }) : builder;
    },
  });
  const connection = client.connection;
  // Go where a load balancer would send a client whose server went away: server 2 (the app sets the URL; the helper
  // adds its ticket to whatever URL is set).
  if (!sameServer) connection.onreconnecting(() => (connection.baseUrl = onServer2(connection.baseUrl)));
  let reconnected;
  client.reconnected = new Promise((resolve) => (reconnected = resolve));
  connection.onreconnected(() => reconnected());
  return { ...client, Sockets, leaks };
}

await run(async (connections) => {
  const gaps = [];
  let alice, bob, sender;
  await step(`connect alice (resume helper) and bob (no helper) to server 1, a sender to server 2; mode ${mode}, ${messagePack ? "MessagePack" : "JSON"}`, async () => {
    [alice, bob] = await Promise.all([
      // Records each gap with how many messages alice had received then: it must come before the new connection's.
      connectClient("alice", { resume: true, onGap: (reason) => gaps.push({ reason, receivedBefore: alice.inbox.items.length }) }),
      connectClient("bob", { resume: false }),
    ]);
    sender = await connectTestHub(url2, "sender");
    connections.push(alice.connection, bob.connection, sender.connection);
    await alice.invoke("AddToGroup", alice.connectionId, "g");
    await bob.invoke("AddToGroup", bob.connectionId, "g");
    const state = getSqliteBackplaneResumeState(alice.connection);
    if (!state?.token) fail(`alice has no resume token after connecting (is EnableResume on?): ${JSON.stringify(state)}`);
    ok(`alice ${alice.connectionId} and bob ${bob.connectionId} on server 1 in group g (${messagePack ? "messagepack" : "json"} protocol); alice holds a resume token`);
  });

  // Numbered messages from the sender (server 2), each by one route; what alice and bob should receive.
  let counter = 0;
  const forAlice = [];
  const forBob = [];
  // The routes that reach alice and bob in the current phase.
  let aliceRoutes = ["all", "group", "user", "connection"];
  let bobRoutes = ["all", "group"];
  async function send(route, aliceConnectionId = alice.connectionId) {
    const text = `n${++counter} ${route}`;
    if (route === "all") await sender.invoke("SendAll", text);
    else if (route === "group") await sender.invoke("SendGroup", "g", text);
    else if (route === "user") await sender.invoke("SendUser", "alice", text);
    else if (route === "connection") await sender.invoke("SendConnection", aliceConnectionId, text);
    else fail(`unknown route ${route}`);
    if (aliceRoutes.includes(route)) forAlice.push(text);
    if (bobRoutes.includes(route)) forBob.push(text);
    return text;
  }
  /** Sends `count` numbered messages by rotating routes, the last one to All (the sender receives it too). */
  async function sendBatch(count, routes) {
    for (let i = 0; i < count - 1; i++) await send(routes[i % routes.length]);
    const last = await send("all");
    // The sender (server 2) receiving the last one proves the batch is in the log and read.
    while (!sender.inbox.items.includes(last)) await sender.inbox.take(1);
    return last;
  }

  await step("before: 12 messages arrive", async () => {
    await sendBatch(12, ["all", "group", "user", "connection"]);
    await alice.inbox.expect(...forAlice);
    await bob.inbox.expect(...forBob);
    ok(`alice received ${forAlice.length} and bob ${forBob.length} messages in order`);
  });

  const oldAliceId = alice.connectionId;
  const heldBefore = forAlice.length;
  let release = () => {};
  await step(mode === "gap" ? "alice stops and waits past the resume window" : `take server 1 away from alice and bob (${mode}) and hold their reconnects`, async () => {
    if (mode === "gap") {
      await withTimeout(alice.connection.stop(), "alice to stop");
      aliceRoutes = [];
      await withTimeout(new Promise((resolve) => setTimeout(resolve, GAP_WAIT_MS)), "the resume window to pass", GAP_WAIT_MS + 1000);
      ok(`alice stopped her connection and waited ${GAP_WAIT_MS} ms, past the resume window`);
      return;
    }
    let releaseGate;
    const gate = new Promise((resolve) => (releaseGate = resolve));
    release = releaseGate;
    const reconnecting = [alice, bob].map((client) => {
      client.Sockets.gate = gate;
      return new Promise((resolve) => (client.Sockets.onCreated = resolve));
    });
    if (mode === "drop") {
      alice.Sockets.instances[0].drop();
      bob.Sockets.instances[0].drop();
    } else {
      process.kill(Number(pidText), mode === "stop" ? "SIGTERM" : "SIGKILL");
    }
    bobRoutes = [];
    await withTimeout(Promise.all(reconnecting), "alice's and bob's clients to start reconnecting");
    ok(`server 1 is gone for alice and bob (${mode}); both clients are reconnecting (held)`);
  });

  await step("while alice is away: 12 messages, including to her old connection id", async () => {
    await sendBatch(12, ["group", "user", "connection", "all"]);
    ok(`sent ${counter - 12} messages while alice was away`);
  });

  await step(mode === "gap" ? "alice starts again, on server 2" : `alice and bob reconnect to ${reconnectName}`, async () => {
    if (mode === "gap") {
      alice.connection.baseUrl = onServer2(alice.connection.baseUrl);
      await withTimeout(alice.connection.start(), "alice to start again on server 2");
      // After a gap the connection starts fresh: no group (the app would join its groups again).
      aliceRoutes = ["all", "user"];
    } else {
      release();
      await withTimeout(alice.reconnected, "alice to reconnect");
      await withTimeout(bob.reconnected, "bob to reconnect");
      // bob's reconnect is a new connection without the group: only the sends to All reach him now.
      bobRoutes = ["all"];
    }
    const aliceUrl = alice.connection.baseUrl;
    if (origin(aliceUrl) !== origin(reconnectUrl)) fail(`alice is not on ${reconnectName}: ${aliceUrl}`);
    alice.connectionId = await alice.invoke("GetConnectionId");
    if (alice.connectionId === oldAliceId) fail(`alice kept connection id ${oldAliceId}: that is not a new connection`);
    ok(`alice reconnected to ${reconnectName} as ${alice.connectionId}`);
  });

  await step(mode === "gap" ? "after: 12 more messages; alice hears of the gap first" : "after: 12 more messages; alice's group carried over", async () => {
    await sendBatch(12, ["group", "user", "all"]);
    await alice.inbox.expect(...forAlice.slice(alice.inbox.read));
    if (alice.inbox.items.length !== forAlice.length) fail(`alice received ${alice.inbox.items.length} messages, expected ${forAlice.length}: ${JSON.stringify(alice.inbox.items)}`);
    const numbers = alice.inbox.items.map((text) => Number(text.split(" ")[0].slice(1)));
    if (numbers.some((n, i) => i > 0 && n <= numbers[i - 1])) fail(`alice's numbers are not strictly increasing: ${numbers.join(",")}`);
    const state = getSqliteBackplaneResumeState(alice.connection);
    if (mode === "gap") {
      const expectedGaps = [{ reason: "expired", receivedBefore: heldBefore }];
      if (JSON.stringify(gaps) !== JSON.stringify(expectedGaps)) fail(`alice expected the gaps ${JSON.stringify(expectedGaps)}, got ${JSON.stringify(gaps)}`);
      if (state.gaps !== 1 || state.resumes !== 0) fail(`alice's resume state: ${JSON.stringify(state)}`);
      ok(`alice was told of the gap ("expired") before any new message, then received the ${forAlice.length - heldBefore} messages sent to her after her restart, in order`);
    } else {
      if (gaps.length !== 0) fail(`alice was told of gaps: ${JSON.stringify(gaps)}`);
      if (state.resumes !== 1 || state.gaps !== 0) fail(`alice's resume state: ${JSON.stringify(state)}`);
      ok(`alice received all ${forAlice.length} messages sent to her exactly once, in order (12 of them sent while she was away), group kept`);
    }
  });

  await step("bob, without the helper, behaves as without the feature", async () => {
    await bob.inbox.expect(...forBob.slice(bob.inbox.read));
    if (bob.inbox.items.length !== forBob.length) fail(`bob received ${bob.inbox.items.length} messages, expected ${forBob.length}: ${JSON.stringify(bob.inbox.items)}`);
    const leaks = [...alice.leaks, ...bob.leaks];
    if (leaks.length !== 0) fail(`reserved invocations surfaced in a client's log: ${JSON.stringify(leaks)}`);
    ok(mode === "gap"
      ? `bob (no helper, stayed on server 1) received his ${forBob.length} messages; no reserved invocation surfaced in a client`
      : `bob (no helper) received ${forBob.length} messages, none of those sent while he was away; no reserved invocation surfaced in a client`);
  });
});
